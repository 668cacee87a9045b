package auditlog

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
