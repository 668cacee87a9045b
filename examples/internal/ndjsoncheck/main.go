// Command ndjsoncheck verifies an export: every line is one JSON object with
// a "_document_id" seen on no other line, the file ends with a newline, and
// (with -want) the number of lines is as expected. CI runs it on the output
// of the export demo; it needs nothing but Go.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	want := flag.Int("want", -1, "expected number of events (-1: any)")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: ndjsoncheck [-want N] FILE")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	n, err := check(flag.Arg(0), *want)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ndjsoncheck:", err)
		os.Exit(1)
	}
	fmt.Printf("ndjsoncheck: %s: %d events, valid JSON, no duplicate _document_id\n", flag.Arg(0), n)
}

func check(path string, want int) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	seen := map[string]int{}
	line := 0
	for {
		b, err := r.ReadBytes('\n')
		if err == io.EOF {
			if len(b) > 0 {
				return line, fmt.Errorf("line %d: partial line (no newline at end of file)", line+1)
			}
			break
		}
		if err != nil {
			return line, err
		}
		line++
		var ev struct {
			DocumentID *string `json:"_document_id"`
		}
		if err := json.Unmarshal(b, &ev); err != nil {
			return line, fmt.Errorf("line %d: %w", line, err)
		}
		if ev.DocumentID == nil || *ev.DocumentID == "" {
			return line, fmt.Errorf("line %d: no _document_id", line)
		}
		if first, dup := seen[*ev.DocumentID]; dup {
			return line, fmt.Errorf("line %d: _document_id %q already on line %d", line, *ev.DocumentID, first)
		}
		seen[*ev.DocumentID] = line
	}
	if want >= 0 && line != want {
		return line, fmt.Errorf("%d events, want %d", line, want)
	}
	return line, nil
}
