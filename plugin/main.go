package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/niftynei/glightning/glightning"

	"github.com/lnplaylive/lnplaylive/capacity"
	"github.com/lnplaylive/lnplaylive/codec"
	"github.com/lnplaylive/lnplaylive/internal/debugserver"
	"github.com/lnplaylive/lnplaylive/internal/temporalconn"
	"github.com/lnplaylive/lnplaylive/order"
	"github.com/lnplaylive/lnplaylive/plugin/cln"
	"github.com/lnplaylive/lnplaylive/workflows"
)

// Option names, as `lightningd --lnplaylive-…` takes them.
const (
	OptTemporalAddress   = "lnplaylive-temporal-address"
	OptTemporalNamespace = "lnplaylive-temporal-namespace"
	OptTemporalAPIKey    = "lnplaylive-temporal-api-key"
	OptTemporalTLSCert   = "lnplaylive-temporal-tls-cert"
	OptTemporalTLSKey    = "lnplaylive-temporal-tls-key"
	OptTemporalTLSCA     = "lnplaylive-temporal-tls-ca"
	OptTaskQueue         = "lnplaylive-task-queue"
	OptPrices            = "lnplaylive-prices"
	OptMinHours          = "lnplaylive-min-hours"
	OptMaxHours          = "lnplaylive-max-hours"
	OptInvoiceExpiry     = "lnplaylive-invoice-expiry"
	OptStatusCacheMillis = "lnplaylive-status-cache-ms"
	OptMaxLiveOrders     = "lnplaylive-max-live-orders"
	OptMaxQueued         = "lnplaylive-max-queued"
	OptCodecKeysFile     = "lnplaylive-codec-keys-file"
	OptDevHourSeconds    = "lnplaylive-dev-hour-seconds"
	OptDebugAddr         = "lnplaylive-debug-addr"
	OptOffers            = "lnplaylive-offers"
)

// Manifest entries: glightning builds the usage strings from the json tags.
type createOrderManifest struct {
	notDispatched
	NodeCount   json.RawMessage `json:"node_count"`
	Hours       json.RawMessage `json:"hours"`
	Topology    json.RawMessage `json:"topology,omitempty"`
	PaymentType json.RawMessage `json:"payment_type,omitempty"`
}

func (*createOrderManifest) Name() string     { return "lnplaylive-createorder" }
func (*createOrderManifest) New() interface{} { return &createOrderManifest{} }

type invoiceStatusManifest struct {
	notDispatched
	PaymentType json.RawMessage `json:"payment_type"`
	InvoiceID   json.RawMessage `json:"invoice_id"`
}

func (*invoiceStatusManifest) Name() string     { return "lnplaylive-invoicestatus" }
func (*invoiceStatusManifest) New() interface{} { return &invoiceStatusManifest{} }

type extendOrderManifest struct {
	notDispatched
	InvoiceID   json.RawMessage `json:"invoice_id"`
	Hours       json.RawMessage `json:"hours"`
	PaymentType json.RawMessage `json:"payment_type,omitempty"`
}

func (*extendOrderManifest) Name() string     { return "lnplaylive-extendorder" }
func (*extendOrderManifest) New() interface{} { return &extendOrderManifest{} }

type productsManifest struct{ notDispatched }

func (*productsManifest) Name() string     { return "lnplaylive-products" }
func (*productsManifest) New() interface{} { return &productsManifest{} }

type paymentManifest struct {
	notDispatched
	InvoiceID json.RawMessage `json:"invoice_id"`
	Extension json.RawMessage `json:"extension,omitempty"`
}

func (*paymentManifest) Name() string     { return "lnplaylive-payment" }
func (*paymentManifest) New() interface{} { return &paymentManifest{} }

type proxyTargetManifest struct {
	notDispatched
	Address json.RawMessage `json:"address"`
}

func (*proxyTargetManifest) Name() string     { return "lnplaylive-proxytarget" }
func (*proxyTargetManifest) New() interface{} { return &proxyTargetManifest{} }

// benchMethods are added by the bench build (noop_bench.go).
var benchMethods []Method

// notDispatched is unexported so glightning's usage builder skips it.
type notDispatched = NotDispatched

// Main runs the plugin process: it returns when lightningd closes stdin.
func Main(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	h := NewHost(stdout)
	log := h.Logger()
	defaults := order.DefaultProducts()
	for _, o := range []glightning.Option{
		glightning.NewStringOption(OptTemporalAddress, "Temporal frontend host:port", temporalconn.DefaultAddress),
		glightning.NewStringOption(OptTemporalNamespace, "Temporal namespace", temporalconn.DefaultNamespace),
		glightning.NewStringOption(OptTemporalAPIKey, "Temporal API key (enables TLS); empty for none", ""),
		glightning.NewStringOption(OptTemporalTLSCert, "Temporal mTLS client certificate file", ""),
		glightning.NewStringOption(OptTemporalTLSKey, "Temporal mTLS client key file", ""),
		glightning.NewStringOption(OptTemporalTLSCA, "CA file for Temporal's server certificate", ""),
		glightning.NewStringOption(OptCodecKeysFile, "file of AES-256 keys encrypting Temporal payloads (the worker's LNPLAYLIVE_CODEC_KEYS_FILE); empty for none", ""),
		glightning.NewStringOption(OptTaskQueue, "Temporal task queue of the lnplaylive worker", workflows.DefaultTaskQueue),
		glightning.NewStringOption(OptPrices, "node_count:msat_per_node_hour,… (the products on sale)", order.DefaultPrices),
		glightning.NewIntOption(OptMinHours, "fewest hours an order may buy", defaults.MinHours),
		glightning.NewIntOption(OptMaxHours, "most hours an order may buy", defaults.MaxHours),
		glightning.NewIntOption(OptInvoiceExpiry, "seconds a customer has to pay an order's invoice", int(defaults.InvoiceExpiry/time.Second)),
		glightning.NewIntOption(OptStatusCacheMillis, "how stale (ms) a paid order's deployment status may be", 1000),
		glightning.NewIntOption(OptDevHourSeconds, "DEVELOPMENT ONLY: length in seconds of the hours orders buy; 0 = real hours", 0),
		glightning.NewStringOption(OptDebugAddr, "loopback host:port serving pprof profiles; empty for none", ""),
		glightning.NewIntOption(OptMaxLiveOrders, "most unpaid invoices outstanding at once (capacity is taken at payment, never by an invoice); 0 sells none", 1000),
		glightning.NewIntOption(OptMaxQueued, "createorder refuses while this many paid orders wait for capacity (0: as soon as one waits)", 10),
		glightning.NewBoolOption(OptOffers, "sell orders and extensions for BOLT12 offers too (payment_type=bolt12)", true),
	} {
		if err := h.AddOption(o); err != nil {
			return err
		}
	}

	var svc *Service
	for _, m := range append([]Method{
		{Manifest: &createOrderManifest{}, Description: "Create an order: a BOLT11 invoice (or BOLT12 offer) for node_count nodes during hours", Call: func(ctx context.Context, p json.RawMessage) (any, error) {
			return svc.CreateOrder(ctx, p)
		}},
		{Manifest: &invoiceStatusManifest{}, Description: "Show an order's payment and deployment status", Call: func(ctx context.Context, p json.RawMessage) (any, error) {
			return svc.InvoiceStatusJSON(ctx, p)
		}},
		{Manifest: &extendOrderManifest{}, Description: "Extend a provisioned order by hours: an invoice (or offer) for the extra time", Call: func(ctx context.Context, p json.RawMessage) (any, error) {
			return svc.ExtendOrder(ctx, p)
		}},
		{Manifest: &productsManifest{}, Description: "What is on sale: sizes and prices per node-hour, hours, topologies, payment types", Call: func(ctx context.Context, p json.RawMessage) (any, error) {
			return svc.Products(ctx, p)
		}},
		{Manifest: &paymentManifest{}, Description: "What an order (or its extension) asks to be paid: the invoice or offer, amount, expiry and state", Call: func(ctx context.Context, p json.RawMessage) (any, error) {
			return svc.Payment(ctx, p)
		}},
		{Manifest: &proxyTargetManifest{}, Description: "Which live order's node listens at address (host:port), for the attendees' websocket proxy", Call: func(ctx context.Context, p json.RawMessage) (any, error) {
			return svc.ProxyTarget(ctx, p)
		}},
	}, benchMethods...) {
		if err := h.AddMethod(m); err != nil {
			return err
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	h.OnInit(func(info InitInfo) error {
		opt := optionReader{opts: info.Options}
		products := order.Products{
			MinHours:      opt.int(OptMinHours),
			MaxHours:      opt.int(OptMaxHours),
			InvoiceExpiry: time.Duration(opt.int(OptInvoiceExpiry)) * time.Second,
		}
		rates, err := order.ParsePrices(opt.str(OptPrices))
		if err != nil {
			return fmt.Errorf("--%s: %w", OptPrices, err)
		}
		products.RateMsat = rates
		if err := products.Validate(); err != nil {
			return err
		}
		offers := opt.bool(OptOffers)
		if opt.err != nil {
			return opt.err
		}
		tcfg := temporalconn.Config{
			Address: opt.str(OptTemporalAddress), Namespace: opt.str(OptTemporalNamespace),
			APIKey:      opt.str(OptTemporalAPIKey),
			TLSCertPath: opt.str(OptTemporalTLSCert), TLSKeyPath: opt.str(OptTemporalTLSKey), TLSCAPath: opt.str(OptTemporalTLSCA),
			CodecKeysFile: opt.str(OptCodecKeysFile),
		}
		if addr := opt.str(OptDebugAddr); addr != "" {
			stop, err := debugserver.Start(addr, log)
			if err != nil {
				return err
			}
			go func() { <-ctx.Done(); stop() }()
		}
		tc, err := tcfg.NewLazyClient(log)
		if err != nil {
			return err
		}
		topts, err := tcfg.Options(log)
		if err != nil {
			return err
		}
		// A plugin that cannot read what the workers write would answer
		// every customer with an opaque error: it disables itself now,
		// with the reason. Temporal being down is no reason to stop
		// following payments: then it only warns.
		cdc, err := tcfg.Codec()
		if err != nil {
			return err
		}
		cctx, ccancel := context.WithTimeout(ctx, 3*time.Second)
		err = capacity.Client{Temporal: tc, TaskQueue: opt.str(OptTaskQueue), DataConverter: topts.DataConverter}.CheckCodec(cctx, cdc)
		ccancel()
		if errors.Is(err, codec.ErrCannotRead) {
			return err
		}
		if errors.Is(err, capacity.ErrNoWorkerYet) {
			log.Warn("codec keys not checked: no worker has run on this task queue yet; once one runs, keys that differ from its LNPLAYLIVE_CODEC_KEYS_FILE fail every paid order's status",
				"task_queue", opt.str(OptTaskQueue), "codec_keys_file", opt.str(OptCodecKeysFile) != "")
		} else if err != nil {
			log.Warn("could not check the codec keys against the workers' at start", "error", err)
		}
		rpcPath := filepath.Join(info.LightningDir, info.RPCFile)
		rpc, err := cln.Dial(ctx, rpcPath, "lnplaylive")
		if err != nil {
			return err
		}
		waitRPC, err := cln.Dial(ctx, rpcPath, "lnplaylive-follower")
		if err != nil {
			return err
		}
		cfg := Config{
			TaskQueue:     opt.str(OptTaskQueue),
			Products:      products,
			StatusTTL:     time.Duration(opt.int(OptStatusCacheMillis)) * time.Millisecond,
			MaxLiveOrders: opt.int(OptMaxLiveOrders),
			MaxQueued:     opt.int(OptMaxQueued),
			DevHour:       time.Duration(opt.int(OptDevHourSeconds)) * time.Second,
			DataConverter: topts.DataConverter,
			Offers:        offers,
		}
		if cfg.DevHour != 0 {
			log.Warn("DEVELOPMENT MODE: an order's hour lasts " + cfg.DevHour.String() + "; never use this with real customers")
		}
		qctx, qcancel := context.WithTimeout(ctx, 10*time.Second)
		cfg.StatusQueue, err = statusQueueName(qctx, rpc)
		qcancel()
		if err != nil {
			// Orders still work; their status is read from Temporal.
			log.Warn("no status queue; invoicestatus reads every paid order from Temporal", "error", err)
		}
		indexRPC, err := cln.Dial(ctx, rpcPath, "lnplaylive-index")
		if err != nil {
			return err
		}
		svc = NewService(cfg, rpc, tc, log)
		go func() {
			if err := svc.RunIndex(ctx, indexRPC); err != nil && ctx.Err() == nil {
				logIndexStop(log, err)
			}
		}()
		if cfg.StatusQueue != "" {
			go runStatusWorker(ctx, tc, cfg.StatusQueue, svc.states, log)
		}
		follower := NewFollower(waitRPC, tc, cfg.TaskQueue, log)
		follower.DevHour, follower.StatusQueue, follower.MaxHours = cfg.DevHour, cfg.StatusQueue, products.MaxHours
		go func() {
			if err := follower.Run(ctx); err != nil && ctx.Err() == nil {
				log.Error("payment follower stopped; restart the plugin to resume", "error", err)
			}
		}()
		log.Info("lnplaylive ready", "temporal", tcfg.Address, "namespace", tcfg.Namespace,
			"task_queue", cfg.TaskQueue, "products", opt.str(OptPrices))
		return nil
	})
	return h.Run(ctx, stdin)
}

// optionReader reads typed option values, remembering the first mismatch.
type optionReader struct {
	opts map[string]glightning.Option
	err  error
}

// str and int read what init carried. lightningd sends every option that is
// set or has a default, so a missing value means a lightningd we do not know.
func (r *optionReader) str(name string) string {
	if o, ok := r.opts[name]; ok {
		if s, ok := o.GetValue().(string); ok {
			return s
		}
	}
	if r.err == nil {
		r.err = fmt.Errorf("--%s: missing or not a string", name)
	}
	return ""
}

func (r *optionReader) int(name string) int {
	if o, ok := r.opts[name]; ok {
		if n, ok := o.GetValue().(int); ok {
			return n
		}
	}
	if r.err == nil {
		r.err = fmt.Errorf("--%s: missing or not an integer", name)
	}
	return 0
}

func (r *optionReader) bool(name string) bool {
	if o, ok := r.opts[name]; ok {
		if b, ok := o.GetValue().(bool); ok {
			return b
		}
	}
	if r.err == nil {
		r.err = fmt.Errorf("--%s: missing or not a boolean", name)
	}
	return false
}
