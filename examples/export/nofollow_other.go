//go:build !unix

package main

// oNoFollow is not available here; openOutput's Lstat and SameFile checks
// still refuse a symlink at -out.
const oNoFollow = 0
