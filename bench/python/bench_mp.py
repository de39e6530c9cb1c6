"""Python multiprocessing rows of the benchmark (run by bench/run.mjs).

Usage: python3 bench_mp.py <workload> '<json params>'
Prints one line per row: '@@row {json}' with the row's samples in the unit of its metric.
Every timestamp that has to be compared across processes is time.monotonic_ns()
(CLOCK_MONOTONIC, the clock Node's process.hrtime reads).
"""
import json
import multiprocessing as mp
import sys
import time

# --- task twins --------------------------------------------------------------------------

SQ_ROUNDS = 16  # sized so that one sq() call takes about 1 µs (BENCH.md)


def noop(x):
    return x


def sq(x):
    a = x
    for i in range(SQ_ROUNDS):
        a = (a * 31 + i) & 0xFFFFFFFF
    return 0 if a == 0.5 else x * x


def burn(n):
    a = 0
    for _ in range(n):
        a = (a * 1103515245 + 12345) & 0x7FFFFFFF
    return a


def mark(cell):
    cell.value = time.monotonic_ns()


# --- output ------------------------------------------------------------------------------


def emit(metric, row, samples, kind="peer", lang="py", **params):
    rec = {"metric": metric, "row": row, "kind": kind, "transport": "python", "lang": lang,
           "samples": samples, "params": params}
    print("@@row " + json.dumps(rec), flush=True)


def emit_error(metric, row, err):
    print("@@row " + json.dumps({"metric": metric, "row": row, "kind": "peer", "transport": "python",
                                 "lang": "py", "error": repr(err)}), flush=True)


def guarded(metric, row):
    def deco(fn):
        def run(*a, **k):
            try:
                fn(*a, **k)
            except Exception as e:  # fail soft: one broken row never hides the others
                emit_error(metric, row, e)
        return run
    return deco


# --- workloads ---------------------------------------------------------------------------


def tiny(P):
    n, reps = P["tinyN"], P["reps"]

    @guarded("tiny", "python Pool.apply_async")
    def run():
        with mp.Pool(2) as pool:
            pool.map(noop, range(1000))  # both workers up
            samples = []
            for r in range(reps + 1):  # first pass is the warm-up
                t = time.perf_counter()
                rs = [pool.apply_async(noop, (i,)) for i in range(n)]
                out = [x.get() for x in rs]
                d = time.perf_counter() - t
                assert out[-1] == n - 1
                if r:
                    samples.append(n / d)
        emit("tiny", "python Pool.apply_async", samples, n=n)

    run()


def map_(P):
    n, reps = P["mapN"], P["reps"]
    items = list(range(n))

    @guarded("map", "python serial (in-process)")
    def serial():
        samples = []
        for r in range(reps + 1):
            t = time.perf_counter()
            out = [sq(x) for x in items]
            d = time.perf_counter() - t
            if r:
                samples.append(n / d)
        emit("map", "python serial (in-process)", samples, kind="serial", n=n, sq_rounds=SQ_ROUNDS,
             us_per_item=round(1e6 / sorted(samples)[len(samples) // 2], 3))

    @guarded("map", "python Pool.map (default chunksize)")
    def pool_map():
        with mp.Pool(2) as pool:
            pool.map(noop, range(1000))
            samples = []
            for r in range(reps + 1):
                t = time.perf_counter()
                out = pool.map(sq, items)
                d = time.perf_counter() - t
                assert len(out) == n
                if r:
                    samples.append(n / d)
        emit("map", "python Pool.map (default chunksize)", samples, n=n)

    serial()
    pool_map()


def cpu(P):
    n, tasks, reps = P["pyBurnN"], P["cpuTasks"], P["reps"]

    @guarded("cpu", "python serial (in-process)")
    def serial():
        samples = []
        burn(n // 4)
        for _ in range(reps):
            t = time.perf_counter()
            for _ in range(tasks):
                burn(n)
            samples.append(time.perf_counter() - t)
        emit("cpu", "python serial (in-process)", samples, kind="serial", burn_n=n, tasks=tasks)

    @guarded("cpu", "python Pool.map")
    def pool_map():
        with mp.Pool(2) as pool:
            pool.map(burn, [n // 4] * tasks)  # warm-up
            samples = []
            for _ in range(reps):
                t = time.perf_counter()
                pool.map(burn, [n] * tasks)
                samples.append(time.perf_counter() - t)
        emit("cpu", "python Pool.map", samples, burn_n=n, tasks=tasks)

    serial()
    pool_map()


def startup(P):
    n = P["starts"]
    for method in ("fork", "spawn", "forkserver"):
        row = f"python {method}"

        @guarded("startup-first", row)
        def run():
            ctx = mp.get_context(method)
            cell = ctx.RawValue("q", 0)
            first, exit_ = [], []
            for _ in range(n):
                p = ctx.Process(target=mark, args=(cell,))
                t0 = time.monotonic_ns()
                p.start()
                p.join()
                t1 = time.monotonic_ns()
                if p.exitcode != 0:
                    raise RuntimeError(f"{method} child exited with {p.exitcode}")
                first.append((cell.value - t0) / 1e6)
                exit_.append((t1 - t0) / 1e6)
            emit("startup-first", row, first, starts=n)
            emit("startup-exit", row, exit_, starts=n)

        run()


def _q_producer(kind, q, n, barrier, t0):
    put = q.send if kind == "Pipe" else q.put
    barrier.wait()
    t0.value = time.monotonic_ns()
    for i in range(n):
        put(i)


def _q_consumer(kind, q, n, barrier, t1):
    get = q.recv if kind == "Pipe" else q.get
    barrier.wait()
    s = 0
    for _ in range(n):
        s += get()
    t1.value = time.monotonic_ns()
    assert s == n * (n - 1) // 2


def queue(P):
    n, reps = P["pyQueueN"], P["reps"]
    for kind in ("Queue", "SimpleQueue", "Pipe"):
        row = "python Pipe (one-way)" if kind == "Pipe" else f"python {kind}"

        @guarded("queue", row)
        def run():
            samples = []
            for r in range(reps + 1):
                if kind == "Pipe":
                    rd, wr = mp.Pipe(duplex=False)
                    pend, cend = wr, rd
                else:
                    q = mp.Queue() if kind == "Queue" else mp.SimpleQueue()
                    pend = cend = q
                barrier = mp.Barrier(2)
                t0, t1 = mp.RawValue("q", 0), mp.RawValue("q", 0)
                m = n if r else min(n, 10_000)
                c = mp.Process(target=_q_consumer, args=(kind, cend, m, barrier, t1))
                p = mp.Process(target=_q_producer, args=(kind, pend, m, barrier, t0))
                c.start()
                p.start()
                p.join()
                c.join()
                if c.exitcode != 0 or p.exitcode != 0:
                    raise RuntimeError(f"{kind} children exited with {p.exitcode}/{c.exitcode}")
                if r:
                    samples.append(m / ((t1.value - t0.value) / 1e9))
            emit("queue", row, samples, n=n)

        run()


def _echo(conn):
    while True:
        x = conn.recv()
        if x is None:
            break
        conn.send(x)


def roundtrip(P):
    warm, n, reps = P["rtWarm"], P["rtN"], P["reps"]

    @guarded("roundtrip", "python Pipe")
    def run():
        a, b = mp.Pipe()
        p = mp.Process(target=_echo, args=(b,))
        p.start()
        try:
            samples = []
            for r in range(reps + 1):
                for i in range(warm):
                    a.send(i)
                    a.recv()
                t = time.perf_counter()
                for i in range(n):
                    a.send(i)
                    a.recv()
                d = time.perf_counter() - t
                if r:
                    samples.append(d / n * 1e6)
        finally:
            a.send(None)
            p.join()
        emit("roundtrip", "python Pipe", samples, n=n, warm=warm)

    run()


def _locked_incr(v, n, barrier, stamps, slot):
    barrier.wait()
    stamps[2 * slot] = time.time()
    for _ in range(n):
        with v.get_lock():
            v.value += 1
    stamps[2 * slot + 1] = time.time()


def locks(P):
    """Uncontended Lock acquire+release in one thread; two processes doing locked increments."""
    reps, n1, n2 = P["reps"], P["lockN"], P["lockPairN"]

    @guarded("locks", "python Lock acquire+release (uncontended)")
    def uncontended():
        lock = mp.Lock()
        out = []
        for _ in range(reps):
            t = time.perf_counter()
            for _ in range(n1):
                lock.acquire()
                lock.release()
            out.append(n1 / (time.perf_counter() - t))
        emit("locks", "python Lock acquire+release (uncontended)", out, n=n1)

    @guarded("locks", "python Value + get_lock(), 2 processes")
    def pair():
        out = []
        for _ in range(reps):
            v = mp.Value("i", 0)
            barrier = mp.Barrier(3)
            # Each process stamps its loop's start and end: the rate counts the loops only.
            stamps = mp.RawArray("d", 4)
            ps = [mp.Process(target=_locked_incr, args=(v, n2, barrier, stamps, slot)) for slot in range(2)]
            for p in ps:
                p.start()
            barrier.wait()
            for p in ps:
                p.join()
            if v.value != 2 * n2:
                raise RuntimeError("lost increments: %d" % v.value)
            dt = max(stamps[1], stamps[3]) - min(stamps[0], stamps[2])
            out.append(2 * n2 / dt)
        emit("locks", "python Value + get_lock(), 2 processes", out, n=2 * n2)

    uncontended()
    pair()


def _bytes_sender(conn, mb):
    conn.send_bytes(bytes(mb * 1024 * 1024))
    conn.close()


def pipe_bytes(P):
    mb, reps = P.get("pipeMB", 64), P["reps"]

    @guarded("pipe-bytes", "python Pipe send_bytes (64 MB)")
    def run():
        out = []
        for _ in range(reps):
            r, w = mp.Pipe(duplex=False)
            p = mp.Process(target=_bytes_sender, args=(w, mb))
            t = time.perf_counter()
            p.start()
            w.close()
            got = r.recv_bytes()
            dt = time.perf_counter() - t
            p.join()
            if len(got) != mb * 1024 * 1024:
                raise RuntimeError("short message")
            out.append(mb / dt)
        emit("pipe-bytes", "python Pipe send_bytes (64 MB)", out, mb=mb)

    run()


def _mgr_calls(d, lo, hi):
    for i in range(lo, hi):
        d["k%d" % i] = i
    for i in range(lo, hi):
        if d["k%d" % i] != i:
            raise RuntimeError("wrong value read back")


def managers(P):
    import threading
    n, reps, threads, rt_n = P["mgrN"], P["reps"], P["pyMgrThreads"], P["mgrRtN"]
    m = mp.Manager()
    try:
        d = m.dict()

        @guarded("mgr-dict", "python Manager().dict(), %d threads" % threads)
        def many():
            per = n // (2 * threads)
            samples = []
            for r in range(reps + 1):
                ts = [threading.Thread(target=_mgr_calls, args=(d, k * per, (k + 1) * per)) for k in range(threads)]
                t = time.perf_counter()
                for x in ts:
                    x.start()
                for x in ts:
                    x.join()
                dt = time.perf_counter() - t
                if r:
                    samples.append(2 * per * threads / dt)
            emit("mgr-dict", "python Manager().dict(), %d threads" % threads, samples, n=n, threads=threads)

        @guarded("mgr-dict", "python Manager().dict(), one thread")
        def one():
            samples = []
            for r in range(reps + 1):
                t = time.perf_counter()
                _mgr_calls(d, 0, n // 2)
                dt = time.perf_counter() - t
                if r:
                    samples.append(n / dt)
            emit("mgr-dict", "python Manager().dict(), one thread", samples, n=n)

        @guarded("mgr-rtt", "python Manager().dict() d[k] round trip")
        def rtt():
            d["k0"] = 0
            samples = []
            for r in range(reps + 1):
                t = time.perf_counter()
                for _ in range(rt_n):
                    d["k0"]
                dt = time.perf_counter() - t
                if r:
                    samples.append(dt / rt_n * 1e6)
            emit("mgr-rtt", "python Manager().dict() d[k] round trip", samples, n=rt_n)

        many()
        one()
        rtt()
    finally:
        m.shutdown()


WORKLOADS = {"locks": locks, "tiny": tiny, "map": map_, "cpu": cpu, "startup": startup, "queue": queue,
             "roundtrip": roundtrip, "pipe-bytes": pipe_bytes, "managers": managers}

if __name__ == "__main__":
    print("@@info " + json.dumps({"python": sys.version.split()[0],
                                  "start_method": mp.get_start_method()}), flush=True)
    WORKLOADS[sys.argv[1]](json.loads(sys.argv[2]))
