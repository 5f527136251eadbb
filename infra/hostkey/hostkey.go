// Package hostkey derives each order's SSH host key from an operator secret.
//
// The worker must pin the host key of a VM it has never seen, and a retried
// "create VM" must pin the same key as the attempt that created the VM.
// Deriving the key from (secret, order id) gives both without storing the
// private key anywhere: cloud-init installs it, the worker recomputes the
// public half whenever it needs it, and nothing secret enters Temporal.
package hostkey

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/pem"
	"errors"
	"fmt"

	"golang.org/x/crypto/ssh"
)

// Deriver makes host keys from a secret of at least 32 bytes.
type Deriver struct{ secret []byte }

// NewDeriver keeps secret (it is copied).
func NewDeriver(secret []byte) (*Deriver, error) {
	if len(secret) < 32 {
		return nil, errors.New("hostkey: the secret must be at least 32 bytes")
	}
	return &Deriver{secret: append([]byte(nil), secret...)}, nil
}

// Key is an order's host key pair.
type Key struct {
	Private ed25519.PrivateKey
	Public  ssh.PublicKey
}

// For derives the host key of an order.
func (d *Deriver) For(orderID string) Key {
	mac := hmac.New(sha256.New, d.secret)
	mac.Write([]byte("lnplaylive host key v1\x00" + orderID))
	priv := ed25519.NewKeyFromSeed(mac.Sum(nil))
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		panic(err) // an ed25519 key is always a valid SSH key
	}
	return Key{Private: priv, Public: pub}
}

// AuthorizedKey is the public key in authorized_keys form, without newline.
func (k Key) AuthorizedKey() string {
	b := ssh.MarshalAuthorizedKey(k.Public)
	return string(b[:len(b)-1])
}

// PrivatePEM is the private key in OpenSSH PEM form, for cloud-init.
func (k Key) PrivatePEM(comment string) (string, error) {
	block, err := ssh.MarshalPrivateKey(k.Private, comment)
	if err != nil {
		return "", fmt.Errorf("hostkey: %w", err)
	}
	return string(pem.EncodeToMemory(block)), nil
}
