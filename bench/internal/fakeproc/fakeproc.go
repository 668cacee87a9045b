// Package fakeproc runs auditlogtest in a process of its own, so a benchmark
// that measures its own heap does not count the fake's dataset (about 800 MB
// for a million events).
package fakeproc

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"github.com/ghaudit/auditlog/auditlogtest"
)

// Config is what the child process serves.
type Config struct {
	Events int           // generated events
	Seed   int64         // generator seed
	Limit  int           // audit_log requests per Window
	Window time.Duration // rate-limit window
}

// Addr is what the child prints on its first line of output.
type Addr struct {
	URL        string `json:"url"`
	Token      string `json:"token"`
	Enterprise string `json:"enterprise"`
}

// Serve starts the fake for cfg, writes its Addr as one JSON line to out,
// and serves until in reaches EOF (the parent closed the pipe or died).
func Serve(cfg Config, in io.Reader, out io.Writer) error {
	srv := auditlogtest.NewServer(
		auditlogtest.WithGeneratedEvents(cfg.Events, cfg.Seed),
		auditlogtest.WithRateLimit(auditlogtest.ResourceAuditLog, cfg.Limit, cfg.Window),
	)
	defer srv.Close()
	if err := json.NewEncoder(out).Encode(Addr{URL: srv.URL(), Token: srv.Token(), Enterprise: srv.Enterprise()}); err != nil {
		return err
	}
	_, err := io.Copy(io.Discard, in)
	return err
}

// Process is a running child fake.
type Process struct {
	Addr
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

// Start runs name with args (a binary that calls Serve) and waits for the
// address it prints. The child's stderr goes to ours.
func Start(name string, args []string, env []string) (*Process, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{cmd: cmd, stdin: stdin}
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &p.Addr)
	}
	if err != nil || p.URL == "" {
		p.Stop()
		return nil, errors.Join(fmt.Errorf("fake server process printed %q", line), err)
	}
	return p, nil
}

// Stop closes the child's stdin, which ends it, and waits for it.
func (p *Process) Stop() error {
	p.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill() // only the child this Process started
		return <-done
	}
}
