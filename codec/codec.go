// Package codec encrypts every Temporal payload lnplaylive writes (AES-256-
// GCM), so runes, connection strings and host keys are unreadable in
// Temporal's database and Web UI. The worker, the plugin and operators'
// tools use it through DataConverter; a codec server lets the Web UI show
// payloads to an operator who has the keys.
//
// Keys live in a file, one "<key id>:<base64 of 32 bytes>" per line. The
// first key encrypts; every key decrypts, so a key is rotated by putting a
// new one first and keeping the old ones until no history needs them.
package codec

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
)

// Metadata of an encrypted payload.
const (
	EncodingEncrypted = "binary/encrypted"
	MetadataKeyID     = "encryption-key-id"
)

// Codec is a converter.PayloadCodec.
type Codec struct {
	active string
	keys   map[string]cipher.AEAD
}

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Parse reads a keys file's contents.
func Parse(data []byte) (*Codec, error) {
	c := &Codec{keys: map[string]cipher.AEAD{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		id, b64, ok := strings.Cut(text, ":")
		if !ok || !keyIDPattern.MatchString(id) {
			return nil, fmt.Errorf("codec keys line %d: want <key id>:<base64 key>", line)
		}
		key, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(key) != 32 {
			// Never echo the key material.
			return nil, fmt.Errorf("codec key %q: not 32 bytes of base64", id)
		}
		if _, dup := c.keys[id]; dup {
			return nil, fmt.Errorf("codec key %q listed twice", id)
		}
		block, _ := aes.NewCipher(key)
		aead, _ := cipher.NewGCM(block)
		c.keys[id] = aead
		if c.active == "" {
			c.active = id
		}
	}
	if c.active == "" {
		return nil, errors.New("codec keys: no key")
	}
	return c, nil
}

// Load reads a keys file.
func Load(path string) (*Codec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("codec keys: %w", err)
	}
	return Parse(data)
}

// NewKeyLine makes a fresh "<id>:<key>" line.
func NewKeyLine(id string) string {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return id + ":" + base64.StdEncoding.EncodeToString(key)
}

// Encode encrypts each payload whole (data and metadata) with the active key.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	aead := c.keys[c.active]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := p.Marshal()
		if err != nil {
			return nil, fmt.Errorf("codec: marshal payload: %w", err)
		}
		nonce := make([]byte, aead.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return nil, err
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(EncodingEncrypted),
				MetadataKeyID:              []byte(c.active),
			},
			Data: aead.Seal(nonce, nonce, plain, []byte(c.active)),
		}
	}
	return out, nil
}

// Decode decrypts what Encode made and passes other payloads through.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != EncodingEncrypted {
			out[i] = p
			continue
		}
		id := string(p.GetMetadata()[MetadataKeyID])
		aead, ok := c.keys[id]
		if !ok {
			return nil, fmt.Errorf("codec: payload encrypted with key %q, which is not in the keys file", id)
		}
		data := p.GetData()
		if len(data) < aead.NonceSize() {
			return nil, errors.New("codec: encrypted payload too short")
		}
		plain, err := aead.Open(nil, data[:aead.NonceSize()], data[aead.NonceSize():], []byte(id))
		if err != nil {
			return nil, fmt.Errorf("codec: decrypt with key %q: %w", id, err)
		}
		var dec commonpb.Payload
		if err := dec.Unmarshal(plain); err != nil {
			return nil, fmt.Errorf("codec: unmarshal payload: %w", err)
		}
		out[i] = &dec
	}
	return out, nil
}

// ErrCannotRead: a payload is encrypted with a key this side does not have
// (no keys at all, or not that key id). Its message names the key id and
// the setting that fixes it.
var ErrCannotRead = errors.New("cannot read Temporal payloads")

// CheckReadable tells whether c (nil: no keys configured) can read p. A
// process that would fail on every payload says so at start, rather than
// answering its callers with opaque "payload encoding" errors.
func CheckReadable(p *commonpb.Payload, c *Codec) error {
	if string(p.GetMetadata()[converter.MetadataEncoding]) != EncodingEncrypted {
		return nil
	}
	id := string(p.GetMetadata()[MetadataKeyID])
	if c == nil {
		return fmt.Errorf("%w: they are encrypted with key %q and no codec keys are configured: use the worker's keys file (LNPLAYLIVE_CODEC_KEYS_FILE, the plugin's --lnplaylive-codec-keys-file)", ErrCannotRead, id)
	}
	if _, ok := c.keys[id]; !ok {
		return fmt.Errorf("%w: they are encrypted with key %q, which the configured keys file lacks: add that key (every key decrypts, the first encrypts)", ErrCannotRead, id)
	}
	return nil
}

// DataConverter is Temporal's default converter with this codec.
func (c *Codec) DataConverter() converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
}
