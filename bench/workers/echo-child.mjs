// Round trip parent <-> forked child through process.send: echo every message.
process.on('message', (m) => process.send(m));
process.send('ready');
