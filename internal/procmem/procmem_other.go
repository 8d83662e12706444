//go:build !linux

package procmem

// ReleaseStartupPages does nothing off Linux.
func ReleaseStartupPages() (int64, error) { return 0, nil }

// physicalMemory is unknown off Linux.
func physicalMemory() uint64 { return 0 }
