// Package procmem manages what the process keeps resident, and what memory
// it trades for latency under load.
//
// A Go binary of skiff's size runs the init functions of some five hundred
// packages before main. They are spread over the whole text, and the
// kernel maps the neighbouring pages of each page it faults in, so by the
// time the server is ready most of the binary's 90 MB of code and
// read-only data is resident although little of it runs again.
// ReleaseStartupPages lets those pages go: the kernel faults back, from the
// page cache, whatever the running process still uses.
//
// A GCPacer lets the heap grow while the process allocates fast, so that
// the garbage collector, whose marking competes with requests for the CPU
// of a small machine, runs rarely under load; once the process is quiet it
// restores GOGC and hands the memory back. It reads two of the runtime's
// counters twenty times a second, which costs next to nothing, and soon
// enough for a burst to find the heap goal raised before its first cycle.
package procmem
