package bench

import (
	"runtime"
	"syscall"
	"time"
)

// LiveHeap is the heap still in use after a full collection: the live
// objects (HeapAlloc) and the spans holding them (HeapInuse). Benchmarks
// take it before and after building something to learn what it keeps.
func LiveHeap() (alloc, inuse int64) {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc), int64(m.HeapInuse)
}

// CPUTime is the cpu time, user and system, this process has used so far.
func CPUTime() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}
