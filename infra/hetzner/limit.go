package hetzner

import (
	"errors"
	"fmt"
	"io"
	"net/http"
)

// MaxResponse bounds one Hetzner API response. A list page of 50 servers
// is a few hundred KiB; anything far larger is a broken or hostile endpoint.
const MaxResponse = 8 << 20

// ErrResponseTooLarge is returned for a response over MaxResponse.
var ErrResponseTooLarge = errors.New("hetzner API response too large")

// limitedTransport stops reading a response body at MaxResponse bytes.
type limitedTransport struct{ next http.RoundTripper }

func (t limitedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{rc: resp.Body, left: MaxResponse}
	return resp, nil
}

type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, fmt.Errorf("%w (over %d bytes)", ErrResponseTooLarge, MaxResponse)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
