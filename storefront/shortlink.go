package storefront

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"

	"github.com/google/uuid"

	"github.com/lnplaylive/lnplaylive/order"
)

// Short links: /n/<token> answers 303 to one node's Clams link. A Remote
// 2.x link is about 500 characters (the node's JSON configuration and its
// rune), so its QR code has modules too small for a phone across a table;
// the short link's code is a few dozen characters.
//
// The storefront keeps no table of links: a token is the order id and the
// node's index, encrypted as one AES block under the link key. An order id
// is a version-4 UUID, whose six fixed bits (four of version, two of
// variant) carry the node's index less one: 0–63, exactly the sizes on
// sale. A token cannot be made or altered without the key: any other 16
// bytes decrypt to a random id, which names no order. Holding one node's
// link says nothing of the order's id or of its other nodes.

// MaxShortLinkNodes is how many nodes of one order short links can name.
const MaxShortLinkNodes = 64

// LinkKeySize is the length of a link key: AES-256.
const LinkKeySize = 32

// linkCodec makes and reads short-link tokens.
type linkCodec struct{ block cipher.Block }

func newLinkCodec(key []byte) (*linkCodec, error) {
	if len(key) != LinkKeySize {
		return nil, fmt.Errorf("link key: want %d bytes, got %d", LinkKeySize, len(key))
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("link key: %w", err)
	}
	return &linkCodec{block: b}, nil
}

var errBadToken = errors.New("not a link of this storefront")

// token names node index (1-based) of order id.
func (c *linkCodec) token(id order.ID, index int) (string, error) {
	u, err := uuid.Parse(string(id))
	if err != nil || u.Version() != 4 || u.Variant() != uuid.RFC4122 {
		return "", fmt.Errorf("short link: %q is not an order id", id)
	}
	if index < 1 || index > MaxShortLinkNodes {
		return "", fmt.Errorf("short link: node %d is outside 1–%d", index, MaxShortLinkNodes)
	}
	i := byte(index - 1)
	u[6] = u[6]&0x0f | (i>>2)<<4 // the version nibble
	u[8] = u[8]&0x3f | (i&3)<<6  // the variant bits
	var out [aes.BlockSize]byte
	c.block.Encrypt(out[:], u[:])
	return base64.RawURLEncoding.EncodeToString(out[:]), nil
}

// parse reads a token back into the order id and node index.
func (c *linkCodec) parse(token string) (order.ID, int, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != aes.BlockSize {
		return "", 0, errBadToken
	}
	var u uuid.UUID
	c.block.Decrypt(u[:], raw)
	i := (u[6]>>4)<<2 | u[8]>>6
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return order.ID(u.String()), int(i) + 1, nil
}

// LoadOrCreateLinkKey reads the link key from path, making it (mode 0600)
// if the file does not exist: links printed on a sheet must keep working
// after a restart, so the key is kept, never made per process.
func LoadOrCreateLinkKey(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if err == nil {
		if len(key) != LinkKeySize {
			return nil, fmt.Errorf("link key %s: want %d bytes, found %d (delete it to make a new one; printed links then stop working)", path, LinkKeySize, len(key))
		}
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("link key: %w", err)
	}
	key = make([]byte, LinkKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("link key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) { // made by a concurrent start
			return LoadOrCreateLinkKey(path)
		}
		return nil, fmt.Errorf("link key: %w", err)
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		return nil, fmt.Errorf("link key %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("link key %s: %w", path, err)
	}
	return key, nil
}
