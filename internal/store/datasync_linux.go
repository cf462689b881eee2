package store

import (
	"os"
	"syscall"
)

// datasync makes f's data durable with fdatasync(2): the tip record file
// never changes size, so the inode's other metadata (its mtime) need not
// be journalled, which saves the file system a journal commit per write.
func datasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}
