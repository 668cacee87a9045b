package redisbudget

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServer is a redis-server this test process started and stops: on a
// free loopback port, in a temporary directory, with persistence off.
// These tests need a real Redis and fail (never skip) without one: .ci/run
// installs it (apt-get install redis-server).
type redisServer struct {
	dir   string
	port  int
	extra []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// startRedis starts a redis-server for the test and stops it at cleanup.
// extra is appended to its command line (e.g. "--requirepass", "pw").
func startRedis(tb testing.TB, extra ...string) *redisServer {
	tb.Helper()
	s, err := launchRedis(tb.TempDir(), extra...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// launchRedis starts a redis-server with its files in dir.
func launchRedis(dir string, extra ...string) (*redisServer, error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, errors.New("redis-server is not installed: these tests run against a real Redis " +
			"(Debian: apt-get install redis-server; .ci/run installs it)")
	}
	s := &redisServer{dir: dir, extra: extra}
	var err error
	for range 5 { // a port found free may be taken before redis-server binds it
		if s.port, err = freePort(); err != nil {
			continue
		}
		if err = s.start(); err == nil {
			return s, nil
		}
	}
	return nil, fmt.Errorf("starting redis-server: %w", err)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Addr is the server's host:port.
func (s *redisServer) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// Client returns a client of the server, closed at cleanup; password is ""
// for none. It neither retries a failed call nor dials twice: against a
// server a test stopped, go-redis's retries (four calls of five dials 100
// ms apart, with backoffs) would cost each outage almost two seconds
// before the Limiter sees it, and on loopback a live server needs none.
func (s *redisServer) Client(tb testing.TB, password string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), Password: password, MaxRetries: -1, DialerRetries: 1})
	tb.Cleanup(func() { c.Close() })
	return c
}

func (s *redisServer) start() error {
	args := append([]string{
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir,
		"--daemonize", "no", "--logfile", filepath.Join(s.dir, "redis.log"),
	}, s.extra...)
	cmd := exec.Command("redis-server", args...)
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			return fmt.Errorf("redis-server on port %d exited: %s", s.port, lastLines(string(log), 5))
		default:
		}
		conn, err := net.DialTimeout("tcp", s.Addr(), time.Second)
		if err == nil {
			// Wait until it answers, not only accepts.
			c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
			perr := c.Ping(context.Background()).Err()
			c.Close()
			conn.Close()
			if perr == nil || isAuthError(perr) {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Stop()
	return fmt.Errorf("redis-server on port %d did not answer in 10s", s.port)
}

func isAuthError(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "NOAUTH") || strings.HasPrefix(msg, "WRONGPASS")
}

// Stop ends the server (SIGTERM to the process this test started, SIGKILL
// after 10 s) and waits for it. It does nothing when the server is stopped.
func (s *redisServer) Stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Restart starts the server again on the same port, with no data: what a
// Redis without persistence holds after a restart.
func (s *redisServer) Restart() error {
	var err error
	for range 20 { // the old socket may linger a moment
		if err = s.start(); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("restarting redis-server: %w", err)
}

func lastLines(s string, n int) string {
	lines := 0
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '\n' {
			lines++
			if lines > n {
				return s[i+1:]
			}
		}
	}
	return s
}
