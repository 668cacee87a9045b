package auditlog

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/nacl/box"
)

// PublicKeySize is the size in bytes of a stream key: a Curve25519 public
// key, sent by GitHub in standard base64.
const PublicKeySize = 32

// SealedOverhead is how many bytes a sealed box adds to its plaintext (an
// ephemeral public key and a MAC), before base64.
const SealedOverhead = box.AnonymousOverhead

// Seal encrypts plaintext for publicKey as a libsodium sealed box
// (crypto_box_seal), the encryption GitHub asks for secrets sent to the
// REST API. publicKey is the standard-base64 key of a [StreamKey]; the
// result is standard base64, ready for an encrypted_* field. Each call uses
// a fresh ephemeral key from crypto/rand, so sealing the same plaintext
// twice gives different ciphertexts.
//
// A publicKey that is not standard base64, not 32 bytes long, or a
// low-order point (whose boxes open without the private key) is refused
// with an [*InputError] for "publicKey". No error ever holds the plaintext.
//
// [Client.CreateStream] and [Client.UpdateStream] seal vendor secrets
// themselves; call Seal only to prepare values for [Sealed].
func Seal(publicKey string, plaintext []byte) (string, error) {
	pub, err := parsePublicKey(publicKey)
	if err != nil {
		return "", err
	}
	return seal(pub, plaintext)
}

// parsePublicKey decodes and checks a standard-base64 Curve25519 public key.
// The key is public, so errors may quote it.
func parsePublicKey(publicKey string) (*[PublicKeySize]byte, error) {
	// Strict, and re-encoded to compare: the decoder would otherwise skip
	// line breaks and ignore non-zero padding bits, accepting many spellings
	// of one key.
	raw, err := base64.StdEncoding.Strict().DecodeString(publicKey)
	if err == nil && base64.StdEncoding.EncodeToString(raw) != publicKey {
		err = errors.New("not canonical")
	}
	if err != nil {
		return nil, &InputError{Field: "publicKey", Reason: fmt.Sprintf(
			"%s is not standard base64 (the key of GET .../audit-log/stream-key)", quoteValue(publicKey))}
	}
	if len(raw) != PublicKeySize {
		return nil, &InputError{Field: "publicKey", Reason: fmt.Sprintf(
			"%s decodes to %d bytes, want a %d-byte Curve25519 public key", quoteValue(publicKey), len(raw), PublicKeySize)}
	}
	// A low-order point (all zeros, say) yields the same shared key for
	// every private key: anyone could open what is sealed for it.
	// X25519 with any scalar, which clamping makes a multiple of the
	// cofactor, gives all zeros exactly for such points, and says so.
	if _, err := curve25519.X25519(curve25519.Basepoint, raw); err != nil {
		return nil, &InputError{Field: "publicKey", Reason: fmt.Sprintf(
			"%s is a low-order Curve25519 point: anything sealed for it opens without the private key", quoteValue(publicKey))}
	}
	var pub [PublicKeySize]byte
	copy(pub[:], raw)
	return &pub, nil
}

// seal encrypts plaintext for pub and returns standard base64.
func seal(pub *[PublicKeySize]byte, plaintext []byte) (string, error) {
	out, err := box.SealAnonymous(make([]byte, 0, len(plaintext)+SealedOverhead), plaintext, pub, rand.Reader)
	if err != nil {
		// Only the random source can fail; its error never holds the plaintext.
		return "", fmt.Errorf("auditlog: sealing a secret: %w", err)
	}
	return base64.StdEncoding.EncodeToString(out), nil
}
