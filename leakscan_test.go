package auditlog

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ghaudit/auditlog/auditlogtest"
)

// The leak scan: every client made by the shared helpers (setup, newFake,
// recordedFake, memClient) logs at debug level to testLogger,
// tests feed the errors they get to recordErr, and TestMain, after the whole
// suite ran, searches all of it for every token and plaintext secret the
// tests used. Finding one fails the run.

// capture is a slog.Handler that keeps the text of every record: message,
// then key=value for each attribute (groups flattened, values unescaped, so
// a secret is found whatever characters it has).
type capture struct {
	mu    *sync.Mutex
	buf   *strings.Builder
	attrs string // pre-formatted attributes from WithAttrs
	group string // group prefix from WithGroup
}

func newCapture() *capture { return &capture{mu: new(sync.Mutex), buf: new(strings.Builder)} }

func (h *capture) Enabled(context.Context, slog.Level) bool { return true }

func (h *capture) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message + h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		writeAttr(&b, h.group, a)
		return true
	})
	b.WriteByte('\n')
	h.mu.Lock()
	h.buf.WriteString(b.String())
	h.mu.Unlock()
	return nil
}

func writeAttr(b *strings.Builder, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		for _, g := range v.Group() {
			writeAttr(b, prefix+a.Key+".", g)
		}
		return
	}
	fmt.Fprintf(b, " %s%s=%s", prefix, a.Key, v.String())
}

func (h *capture) WithAttrs(as []slog.Attr) slog.Handler {
	var b strings.Builder
	for _, a := range as {
		writeAttr(&b, h.group, a)
	}
	c := *h
	c.attrs += b.String()
	return &c
}

func (h *capture) WithGroup(name string) slog.Handler {
	c := *h
	c.group += name + "."
	return &c
}

func (h *capture) record(s string) {
	h.mu.Lock()
	h.buf.WriteString(s + "\n")
	h.mu.Unlock()
}

func (h *capture) text() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.buf.String()
}

var (
	suiteCapture = newCapture()
	// testLogger is given to every client the shared helpers make.
	testLogger = slog.New(suiteCapture)

	secretsMu sync.Mutex
	// suiteSecrets are the tokens and plaintext secrets the tests use; no
	// log record or recorded error may hold one.
	suiteSecrets = []string{
		testToken,
		auditlogtest.DefaultToken,
		"ghp_rotating", // TestTokenSource's rotating tokens
		"SECRET",       // every plaintext vendor secret in the tests has this marker
	}
)

// recordErr adds the text of errors a test received to the scanned corpus.
func recordErr(errs ...error) {
	for _, err := range errs {
		if err != nil {
			suiteCapture.record("error " + err.Error())
		}
	}
}

// registerSecret adds secrets to those the final scan looks for.
func registerSecret(secrets ...string) {
	secretsMu.Lock()
	suiteSecrets = append(suiteSecrets, secrets...)
	secretsMu.Unlock()
}

// findLeaks returns a finding for each secret that occurs in text.
func findLeaks(text string, secrets []string) []string {
	var found []string
	for _, s := range secrets {
		if s == "" {
			continue
		}
		if i := strings.Index(text, s); i >= 0 {
			start := strings.LastIndexByte(text[:i], '\n') + 1
			end := strings.IndexByte(text[i:], '\n')
			if end < 0 {
				end = len(text) - i
			}
			line := strings.ReplaceAll(text[start:i+end], s, "<"+s[:min(6, len(s))]+"…>")
			found = append(found, fmt.Sprintf("secret %.6s… found in: %s", s, line))
		}
	}
	return found
}

func TestMain(m *testing.M) {
	for _, v := range variants {
		for _, s := range v.secrets {
			registerSecret(s)
		}
	}
	code := m.Run()
	secretsMu.Lock()
	secrets := slices.Clone(suiteSecrets)
	secretsMu.Unlock()
	text := suiteCapture.text()
	if leaks := findLeaks(text, secrets); len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: the suite's logs or errors hold a token or secret:\n%s\n", strings.Join(leaks, "\n"))
		code = 1
	} else if code == 0 && testing.Verbose() {
		fmt.Printf("leak scan: %d bytes of log records and errors, %d secrets, none found\n", len(text), len(secrets))
	}
	os.Exit(code)
}

// TestLeakScannerCatchesLeaks proves the scan finds a secret wherever a
// careless change could put it: a plain attribute, a nested group, a
// WithAttrs logger, an error, and that the helpers' clients do feed it.
func TestLeakScannerCatchesLeaks(t *testing.T) {
	t.Parallel()
	secrets := []string{testToken, "SECRET-unit"}
	for name, leak := range map[string]func(*slog.Logger, *capture){
		"attr":  func(l *slog.Logger, _ *capture) { l.Debug("request", "authorization", "Bearer "+testToken) },
		"group": func(l *slog.Logger, _ *capture) { l.Info("x", slog.Group("req", slog.Group("h", "a", testToken))) },
		"with":  func(l *slog.Logger, _ *capture) { l.With("cfg", map[string]string{"t": "SECRET-unit"}).Warn("y") },
		"withgroup": func(l *slog.Logger, _ *capture) {
			l.WithGroup("g").Error("z", "err", fmt.Errorf("wrapped %s", testToken))
		},
		"message": func(l *slog.Logger, _ *capture) { l.Debug("token " + testToken) },
		"error": func(_ *slog.Logger, c *capture) {
			c.record("error " + (&APIError{Message: "echo SECRET-unit"}).Error())
		},
	} {
		c := newCapture()
		leak(slog.New(c), c)
		if len(findLeaks(c.text(), secrets)) == 0 {
			t.Errorf("%s: the scanner missed a leak in %q", name, c.text())
		}
	}
	clean := newCapture()
	slog.New(clean).Info("response", "status", 200, "token", staticToken(testToken))
	if leaks := findLeaks(clean.text(), secrets); len(leaks) > 0 {
		t.Errorf("false positive: %v", leaks)
	}

	// The helpers' clients write to the suite capture.
	c, mux, _ := setup(t)
	mux.HandleFunc("GET /enterprises/scan-probe/audit-log", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "[]") })
	_, err := c.AuditLog(context.Background(), Enterprise("scan-probe"), nil)
	recordErr(err, fmt.Errorf("scan-probe-error"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(suiteCapture.text(), "/enterprises/scan-probe/audit-log") {
		t.Error("setup's client does not log to the suite capture")
	}
	if !strings.Contains(suiteCapture.text(), "scan-probe-error") {
		t.Error("recordErr does not reach the suite capture")
	}
}
