// Package procmem trims what the process keeps resident.
//
// A Go binary of skiff's size runs the init functions of some five hundred
// packages before main. They are spread over the whole text, and the
// kernel maps the neighbouring pages of each page it faults in, so by the
// time the server is ready most of the binary's 90 MB of code and
// read-only data is resident although little of it runs again.
// ReleaseStartupPages lets those pages go: the kernel faults back, from the
// page cache, whatever the running process still uses.
package procmem
