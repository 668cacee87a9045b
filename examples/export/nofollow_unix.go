//go:build unix

package main

import "syscall"

// oNoFollow makes opening -out fail when its last element is a symlink, so
// a link planted in its place cannot redirect the export to another file.
const oNoFollow = syscall.O_NOFOLLOW
