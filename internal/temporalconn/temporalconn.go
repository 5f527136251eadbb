// Package temporalconn builds Temporal client options from the settings the
// `temporal` CLI uses (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TLS, API key),
// so the worker, the plugin and operators' tools point at the same server
// the same way.
package temporalconn

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"strconv"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/lnplaylive/lnplaylive/codec"
)

// Config locates a Temporal namespace. The zero value is a local dev server.
type Config struct {
	Address       string
	Namespace     string
	APIKey        string // secret: never logged
	TLS           bool
	TLSCertPath   string
	TLSKeyPath    string
	TLSCAPath     string
	TLSServerName string
	// CodecKeysFile, when set, encrypts every payload (see package codec).
	CodecKeysFile string
}

// Defaults match `temporal server start-dev`.
const (
	DefaultAddress   = "localhost:7233"
	DefaultNamespace = "default"
)

// FromEnv reads the temporal CLI's environment variables.
func FromEnv() Config {
	tlsOn, _ := strconv.ParseBool(os.Getenv("TEMPORAL_TLS"))
	c := Config{
		Address:       os.Getenv("TEMPORAL_ADDRESS"),
		Namespace:     os.Getenv("TEMPORAL_NAMESPACE"),
		APIKey:        os.Getenv("TEMPORAL_API_KEY"),
		TLS:           tlsOn,
		TLSCertPath:   os.Getenv("TEMPORAL_TLS_CERT"),
		TLSKeyPath:    os.Getenv("TEMPORAL_TLS_KEY"),
		TLSCAPath:     os.Getenv("TEMPORAL_TLS_CA"),
		TLSServerName: os.Getenv("TEMPORAL_TLS_SERVER_NAME"),
		CodecKeysFile: os.Getenv("LNPLAYLIVE_CODEC_KEYS_FILE"),
	}
	return c.WithDefaults()
}

// WithDefaults fills what is unset.
func (c Config) WithDefaults() Config {
	if c.Address == "" {
		c.Address = DefaultAddress
	}
	if c.Namespace == "" {
		c.Namespace = DefaultNamespace
	}
	return c
}

// Options builds client options; logs go to logger.
// Codec loads the configured keys; nil when none are configured.
func (c Config) Codec() (*codec.Codec, error) {
	if c.CodecKeysFile == "" {
		return nil, nil
	}
	return codec.Load(c.CodecKeysFile)
}

func (c Config) Options(logger *slog.Logger) (client.Options, error) {
	c = c.WithDefaults()
	opts := client.Options{
		HostPort:  c.Address,
		Namespace: c.Namespace,
		Logger:    tlog.NewStructuredLogger(logger),
	}
	if c.APIKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(c.APIKey)
	}
	cd, err := c.Codec()
	if err != nil {
		return client.Options{}, err
	}
	if cd != nil {
		opts.DataConverter = cd.DataConverter()
	}
	useTLS := c.TLS || c.TLSCertPath != "" || c.TLSCAPath != "" || c.APIKey != ""
	if useTLS {
		tc := &tls.Config{ServerName: c.TLSServerName, MinVersion: tls.VersionTLS12}
		if c.TLSCertPath != "" || c.TLSKeyPath != "" {
			cert, err := tls.LoadX509KeyPair(c.TLSCertPath, c.TLSKeyPath)
			if err != nil {
				return client.Options{}, fmt.Errorf("temporal TLS client certificate: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		if c.TLSCAPath != "" {
			pem, err := os.ReadFile(c.TLSCAPath)
			if err != nil {
				return client.Options{}, fmt.Errorf("temporal TLS CA: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return client.Options{}, fmt.Errorf("temporal TLS CA %s: no certificate found", c.TLSCAPath)
			}
			tc.RootCAs = pool
		}
		opts.ConnectionOptions.TLS = tc
	}
	return opts, nil
}

// NewLazyClient returns a client that connects on first use, so a process
// can start (and serve what does not need Temporal) while Temporal is down.
func (c Config) NewLazyClient(logger *slog.Logger) (client.Client, error) {
	opts, err := c.Options(logger)
	if err != nil {
		return nil, err
	}
	cl, err := client.NewLazyClient(opts)
	if err != nil {
		return nil, fmt.Errorf("temporal client for %s/%s: %w", c.Address, c.Namespace, err)
	}
	return cl, nil
}
