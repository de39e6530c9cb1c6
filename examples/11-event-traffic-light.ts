/**
 * Seed 004: a traffic light and ten cars sharing one `Event`. The light (a
 * daemonic child) flips the event between set (绿灯, green) and clear (红灯,
 * red) at random intervals; a car that finds the light red waits on the
 * event, and passes once it is green. The main program waits for the cars;
 * the light ends with it.
 */
import { Event, Process, isMain } from 'multiprocessing-ts';
import { random, sleep } from './_lib/time.js';

export async function car(event: Event, name: string): Promise<void> {
  for (;;) {
    if (event.isSet()) {
      await sleep(random());
      console.log(`car ${name} passes...`);
      break;
    } else {
      console.log(`car ${name} waits...`);
      await event.wait(); // until the light turns green
    }
  }
}

export async function light(event: Event): Promise<void> {
  for (;;) {
    if (event.isSet()) {
      event.clear();
      console.log('红灯');
      await sleep(random());
    } else {
      event.set();
      console.log('绿灯');
      await sleep(random());
    }
  }
}

if (isMain()) {
  const event = new Event();
  event.clear();
  const l = new Process({ target: light, args: [event] });
  l.daemon = true;
  l.start();
  const cars: Process[] = [];
  for (let i = 0; i < 10; i++) cars.push(new Process({ target: car, args: [event, `c_${i + 1}`] }));
  for (const c of cars) c.start();
  for (const c of cars) await c.join();
  console.log('all cars passed...');
}
