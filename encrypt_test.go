package auditlog

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/blake2b"
	"golang.org/x/crypto/nacl/box"
)

func TestSealOpensWithLibsodiumSealedBox(t *testing.T) {
	t.Parallel()
	pub, priv, err := box.GenerateKey(rand.Reader)
	require.NoError(t, err)
	key := base64.StdEncoding.EncodeToString(pub[:])

	for _, plain := range []string{"", "hec-token-0123", strings.Repeat("ü", 5000)} {
		ct, err := Seal(key, []byte(plain))
		require.NoError(t, err)
		raw, err := base64.StdEncoding.DecodeString(ct)
		require.NoError(t, err, "ciphertext must be standard base64")
		assert.Len(t, raw, len(plain)+SealedOverhead)
		got, ok := box.OpenAnonymous(nil, raw, pub, priv)
		require.True(t, ok, "crypto_box_seal_open must accept the ciphertext")
		assert.Equal(t, plain, string(got))
	}

	a, err := Seal(key, []byte("same"))
	require.NoError(t, err)
	b, err := Seal(key, []byte("same"))
	require.NoError(t, err)
	assert.NotEqual(t, a, b, "each seal uses a fresh ephemeral key")
}

func TestSealRefusesBadKeys(t *testing.T) {
	t.Parallel()
	const secret = "plaintext-secret-must-not-leak"
	key32 := make([]byte, 32)
	for _, tc := range []struct {
		name, key, want string
	}{
		{"empty", "", "decodes to 0 bytes"},
		{"not base64", "not a key!", "not standard base64"},
		{"url-safe alphabet", strings.Repeat("-_", 22), "not standard base64"},
		{"31 bytes", base64.StdEncoding.EncodeToString(key32[:31]), "decodes to 31 bytes"},
		{"33 bytes", base64.StdEncoding.EncodeToString(append(key32, 0)), "decodes to 33 bytes"},
		{"raw (unpadded) base64", base64.RawStdEncoding.EncodeToString(key32), "not standard base64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ct, err := Seal(tc.key, []byte(secret))
			require.Error(t, err)
			assert.Empty(t, ct)
			var ie *InputError
			require.True(t, errors.As(err, &ie))
			assert.Equal(t, "publicKey", ie.Field)
			assert.ErrorIs(t, err, ErrInvalidInput)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), secret)
		})
	}
}

// lowOrderPoints are the Curve25519 public keys of small order (libsodium's
// blocklist): 0, 1, the two points of order 8, p-1, p and p+1, and one with
// the ignored top bit set.
var lowOrderPoints = []string{
	"0000000000000000000000000000000000000000000000000000000000000000",
	"0100000000000000000000000000000000000000000000000000000000000000",
	"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
	"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"0000000000000000000000000000000000000000000000000000000000000080",
}

// isLowOrder reports whether a 32-byte key is one of lowOrderPoints, the
// top bit (which X25519 ignores) aside.
func isLowOrder(raw []byte) bool {
	masked := bytes.Clone(raw)
	masked[31] &= 0x7f
	for _, h := range lowOrderPoints[:7] {
		if hex.EncodeToString(masked) == h {
			return true
		}
	}
	return false
}

// TestSealRefusesLowOrderKeys: a box sealed for a low-order key opens with
// any private key at all, so such a key is refused.
func TestSealRefusesLowOrderKeys(t *testing.T) {
	t.Parallel()
	// Why: sealed for the all-zero key, the box's shared key is the one a
	// stranger's private key gives with that public key too.
	var zero [32]byte
	ct, err := box.SealAnonymous(nil, []byte("secret"), &zero, rand.Reader)
	require.NoError(t, err)
	_, stranger, err := box.GenerateKey(rand.Reader)
	require.NoError(t, err)
	h, err := blake2b.New(24, nil)
	require.NoError(t, err)
	h.Write(ct[:32]) // the ephemeral public key
	h.Write(zero[:])
	var nonce [24]byte
	copy(nonce[:], h.Sum(nil))
	got, ok := box.Open(nil, ct[32:], &nonce, &zero, stranger)
	require.True(t, ok, "a stranger opens a box sealed for the zero key")
	require.Equal(t, "secret", string(got))

	for _, h := range lowOrderPoints {
		raw, err := hex.DecodeString(h)
		require.NoError(t, err)
		require.True(t, isLowOrder(raw), h)
		key := base64.StdEncoding.EncodeToString(raw)
		ct, err := Seal(key, []byte("plaintext-secret"))
		require.Error(t, err, h)
		assert.Empty(t, ct)
		var ie *InputError
		require.ErrorAs(t, err, &ie)
		assert.Equal(t, "publicKey", ie.Field)
		assert.Contains(t, err.Error(), "low-order", h)
		assert.NotContains(t, err.Error(), "plaintext-secret")
	}
}
