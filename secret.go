package auditlog

import (
	"fmt"
	"io"
	"log/slog"
	"unique"
)

// redacted is what a non-empty [Secret] prints, logs and marshals as.
const redacted = "[REDACTED]"

// Secret is a credential: a vendor token, key, connection string or URL
// that the client seals before sending and that never appears in fmt, slog,
// encoding/json or encoding/xml output. A non-empty Secret shows as
// "[REDACTED]", an empty one as "". The zero value is the empty secret.
// Secrets compare equal when their values are equal.
//
// Secret is a struct, not a string type, because fmt does not call methods
// on values reached through unexported struct fields, nor under a bad verb
// such as %p: there it prints a value's underlying data. A Secret's data is
// a pointer, which fmt prints as an address. See SECURITY.md for what
// remains: reflection that follows pointers (spew, go-cmp, debuggers).
type Secret struct {
	// The handle's pointer targets a string: fmt prints a pointer to
	// anything but an array, slice, struct or map as an address, even at
	// depth 0 in a bad-verb message.
	h unique.Handle[string]
}

// NewSecret returns plaintext as a Secret; "" gives the zero Secret.
func NewSecret(plaintext string) Secret {
	if plaintext == "" {
		return Secret{}
	}
	return Secret{unique.Make(plaintext)}
}

// reveal returns the plaintext; only the sealing step calls it.
func (s Secret) reveal() string {
	if s == (Secret{}) {
		return ""
	}
	return s.h.Value()
}

// String returns "[REDACTED]", or "" for the empty secret.
func (s Secret) String() string {
	if s == (Secret{}) {
		return ""
	}
	return redacted
}

// GoString returns the redacted form, quoted, for %#v.
func (s Secret) GoString() string { return fmt.Sprintf("%q", s.String()) }

// Format writes the redacted form for every verb: quoted for %q and %#v,
// as a string (with the directive's width and flags) for any other.
func (s Secret) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		_, _ = io.WriteString(f, s.GoString())
	case verb == 'q':
		fmt.Fprintf(f, fmt.FormatString(f, 'q'), s.String())
	default:
		fmt.Fprintf(f, fmt.FormatString(f, 's'), s.String())
	}
}

// LogValue logs the redacted form.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText returns the redacted form; encoding/json, encoding/xml and
// slog's handlers use it.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText loads a secret, for configuration read from a file. It
// refuses "[REDACTED]": a redacted copy would otherwise be sealed and sent
// as the credential itself.
func (s *Secret) UnmarshalText(b []byte) error {
	if string(b) == redacted {
		return &InputError{Field: "Secret", Reason: `is "[REDACTED]", the placeholder a secret is printed as, not a secret`}
	}
	*s = NewSecret(string(b))
	return nil
}
