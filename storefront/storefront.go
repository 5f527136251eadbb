// Package storefront is the buyer's web page: choose a playground, pay
// its invoice, watch it come up, and hand out its nodes. It is a client
// of the plugin's public methods through lightningd's JSON-RPC socket and
// keeps nothing a restart would lose: an order's page is its id, its
// short links are encrypted, not stored.
package storefront

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lnplaylive/lnplaylive/handout"
	"github.com/lnplaylive/lnplaylive/infra/wsproxy"
	"github.com/lnplaylive/lnplaylive/order"
)

// Config is the storefront's settings.
type Config struct {
	// PublicURL is where buyers reach the storefront, with its path prefix
	// (https://lnplay.example/shop). Short links are made only when it is
	// set: a link printed on a sheet must name the public address.
	PublicURL string
	// Prefix is the path under which pages are served ("" or "/shop"); by
	// default PublicURL's path.
	Prefix string
	// TrustedProxies are the proxies whose X-Forwarded-For is believed
	// when limiting clients.
	TrustedProxies []netip.Prefix
	// LinkKey encrypts short links (LinkKeySize bytes); required with
	// PublicURL.
	LinkKey []byte
	// OrdersEvery and OrdersBurst limit one client's creations (orders and
	// extensions): OrdersBurst at once, then one per OrdersEvery.
	OrdersEvery time.Duration
	OrdersBurst int
	// PollInterval is how often an open order's status is asked for (one
	// poll per order, however many watch it). Default one second.
	PollInterval time.Duration
	// ProductsTTL is how long the price list is kept. Default a minute.
	ProductsTTL time.Duration
	Log         *slog.Logger
}

// Server serves the storefront.
type Server struct {
	cfg    Config
	node   Node
	hub    *hub
	links  *linkCodec
	limit  *clientLimiter
	pages  map[string]*template.Template
	mux    *http.ServeMux
	public *url.URL
	log    *slog.Logger
	proxy  *wsproxy.Relay

	catMu   sync.Mutex
	cat     *order.ProductsReply
	catTime time.Time
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// New makes a storefront on node.
func New(cfg Config, node Node) (*Server, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.ProductsTTL <= 0 {
		cfg.ProductsTTL = time.Minute
	}
	if cfg.OrdersEvery <= 0 {
		cfg.OrdersEvery = 10 * time.Second
	}
	if cfg.OrdersBurst <= 0 {
		cfg.OrdersBurst = 10
	}
	s := &Server{cfg: cfg, node: node, log: cfg.Log, limit: newClientLimiter(cfg.OrdersEvery, cfg.OrdersBurst)}
	if cfg.PublicURL != "" {
		u, err := url.Parse(cfg.PublicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("public URL %q: want http(s)://host[:port][/prefix]", cfg.PublicURL)
		}
		u.Path = strings.TrimRight(u.Path, "/")
		s.public = u
		if cfg.Prefix == "" {
			s.cfg.Prefix = u.Path
		}
		if s.links, err = newLinkCodec(cfg.LinkKey); err != nil {
			return nil, fmt.Errorf("short links need a link key: %w", err)
		}
	}
	s.cfg.Prefix = strings.TrimRight(s.cfg.Prefix, "/")
	if s.cfg.Prefix != "" && !strings.HasPrefix(s.cfg.Prefix, "/") {
		return nil, fmt.Errorf("path prefix %q: must start with /", s.cfg.Prefix)
	}
	if err := s.parseTemplates(); err != nil {
		return nil, err
	}
	s.hub = newHub(node, s.renderFragment, s.catalogueVersion, s.cfg.PollInterval, cfg.Log)
	s.proxy = s.newProxy()
	s.routes()
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Robots-Tag", "noindex, nofollow")
	h.Set("Content-Security-Policy", csp(""))
	s.mux.ServeHTTP(w, r)
}

// csp is the pages' Content-Security-Policy: scripts and styles only from
// this origin (none inline), images from here or data: URLs (the QR
// codes), nothing framed. extraStyle admits one inline style by its hash.
func csp(extraStyle string) string {
	style := "'self'"
	if extraStyle != "" {
		sum := sha256.Sum256([]byte(extraStyle))
		style = "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	}
	return "default-src 'none'; script-src 'self'; style-src " + style + "; img-src 'self' data:; connect-src 'self'; " +
		"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
}

func (s *Server) routes() {
	m := http.NewServeMux()
	p := s.cfg.Prefix
	static, _ := fs.Sub(staticFS, "static")
	m.Handle("GET "+p+"/static/", http.StripPrefix(p+"/static/", cacheStatic(http.FileServerFS(static))))
	m.HandleFunc("GET "+p+"/static/sheet.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=300")
		fmt.Fprint(w, handout.SheetScript)
	})
	m.HandleFunc("GET "+p+"/{$}", s.index)
	m.HandleFunc("POST "+p+"/order", s.createOrder)
	m.HandleFunc("GET "+p+"/order/{id}", s.orderPage)
	m.HandleFunc("GET "+p+"/order/{id}/events", s.events)
	m.HandleFunc("POST "+p+"/order/{id}/extend", s.extendOrder)
	m.HandleFunc("GET "+p+"/order/{id}/pay/{n}", s.payPage)
	m.HandleFunc("GET "+p+"/order/{id}/sheet", s.sheet)
	m.HandleFunc("GET "+p+"/order/{id}/nodes.csv", s.nodesCSV)
	m.HandleFunc("GET "+p+"/order/{id}/nodes.json", s.nodesJSON)
	m.HandleFunc("GET "+p+"/n/{token}", s.shortLink)
	m.Handle("GET "+p+"/ws-proxy/{target}", s.proxy)
	m.HandleFunc("GET "+p+"/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, http.StatusNotFound, "Not found", "There is no page at this address.")
	})
	s.mux = m
}

// Collectors are the storefront's metrics (the attendees' proxy's bytes
// per order, connections and refusals), for the binary's registry.
func (s *Server) Collectors() []prometheus.Collector { return s.proxy.Collectors() }

// cacheStatic lets browsers keep the script and style sheet a while.
func cacheStatic(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		h.ServeHTTP(w, r)
	})
}

// catalogue is what is on sale, asked of the node at most once per
// ProductsTTL.
func (s *Server) catalogue(ctx context.Context) (order.ProductsReply, error) {
	s.catMu.Lock()
	defer s.catMu.Unlock()
	if s.cat != nil && time.Since(s.catTime) < s.cfg.ProductsTTL {
		return *s.cat, nil
	}
	var c order.ProductsReply
	if err := call(ctx, s.node, methodProducts, map[string]any{}, &c); err != nil {
		if s.cat != nil { // a stale price list beats no page
			return *s.cat, nil
		}
		return c, err
	}
	if len(c.Sizes) == 0 {
		return c, errors.New("lnplaylive-products: the node sells no sizes")
	}
	s.cat, s.catTime = &c, time.Now()
	return c, nil
}

// catalogueVersion names the price list order pages show (its fetch
// time): a new one renders them again.
func (s *Server) catalogueVersion() string {
	s.catMu.Lock()
	defer s.catMu.Unlock()
	return s.catTime.String()
}

// orderID reads the {id} of a path; anything but an order id is refused
// before the node is asked.
func orderID(r *http.Request) (order.ID, bool) {
	id, err := order.ParseID(r.PathValue("id"))
	return id, err == nil && string(id) == r.PathValue("id")
}

// orderURL is the path of an order's page.
func (s *Server) orderURL(id order.ID) string { return s.cfg.Prefix + "/order/" + string(id) }

// absolute is path as buyers reach it: on the public URL when set.
func (s *Server) absolute(r *http.Request, path string) string {
	if s.public != nil {
		return s.public.Scheme + "://" + s.public.Host + path
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + path
}

// shortLinks are the QR codes' links of a provisioned order's nodes, by
// index; nil when the public URL is not set.
func (s *Server) shortLinks(id order.ID, nodes []order.Node) map[int]string {
	if s.links == nil {
		return nil
	}
	m := map[int]string{}
	for _, n := range nodes {
		t, err := s.links.token(id, n.Index)
		if err != nil {
			continue // a node beyond MaxShortLinkNodes keeps its long link
		}
		m[n.Index] = s.public.Scheme + "://" + s.public.Host + s.cfg.Prefix + "/n/" + t
	}
	return m
}

// noStore marks an order's responses: they carry its runes.
func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
}

// ErrorPage data.
type errorPage struct {
	Title, Message string
}

// fail answers with an error page.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, code int, title, msg string) {
	w.Header().Set("Cache-Control", "no-store")
	s.renderPage(w, r, code, "error", pageData{Title: title, Error: &errorPage{Title: title, Message: msg}})
}

// failErr answers for an error from the node.
func (s *Server) failErr(w http.ResponseWriter, r *http.Request, err error) {
	var rf *refusal
	switch {
	case errors.Is(err, errNoSuchOrder):
		s.fail(w, r, http.StatusNotFound, "No such order", "This address names no order on this storefront. Check the link you were given.")
	case errors.As(err, &rf):
		s.fail(w, r, http.StatusUnprocessableEntity, "Refused", rf.msg)
	case errors.Is(err, context.Canceled):
		// the visitor left
	default:
		s.log.Error("node call failed", "path", r.URL.Path, "error", err)
		w.Header().Set("Retry-After", "5")
		s.fail(w, r, http.StatusServiceUnavailable, "Try again in a moment",
			"The payment node did not answer. Nothing was bought; reload this page in a few seconds.")
	}
}
