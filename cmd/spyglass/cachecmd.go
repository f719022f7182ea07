package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spyglass-gateway/spyglass/admin"
	"github.com/spyglass-gateway/spyglass/config"
)

const cacheUsage = `usage: spyglass cache ls [--json] [flags]
       spyglass cache prefetch IMAGE_ID [--region NAME] [flags]
       spyglass cache evict IMAGE_ID [--region NAME] [flags]

Talks to a running instance's admin listener (admin.listen), with its
token (admin.token_file, or SPYGLASS_ADMIN_TOKEN) when it has one.
`

// cacheCommand runs "spyglass cache ls|prefetch|evict": 0 done, 1 the
// instance could not do it (or could not be reached), 2 a usage error.
func cacheCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, cacheUsage)
		return 2
	}
	sub := args[0]
	fs := flag.NewFlagSet("spyglass cache "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		adminAt = fs.String("admin", "", "`address` of the instance's admin listener, host:port (default: admin.listen of --config or "+config.EnvAdmin+", else 127.0.0.1:9293)")
		cfgPath = fs.String("config", "", "configuration `file` of the instance, to find its admin listener and its token (admin.token_file; "+config.EnvAdminToken+" wins)")
		region  = fs.String("region", "", "`region` the image's data is cached from (default: the only cached region, else the default region)")
		asJSON  = fs.Bool("json", false, "ls: print the instance's JSON answer")
		token   = fs.String("token", envToken(), "Keystone `token` sent as X-Auth-Token, for regions that accept only tokens (default: $OS_TOKEN, else $OS_AUTH_TOKEN)")
	)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), cacheUsage+"\nflags:\n")
		fs.PrintDefaults()
	}
	var id string
	switch sub {
	case "ls":
	case "prefetch", "evict":
		if len(args) < 2 || strings.HasPrefix(args[1], "-") {
			fmt.Fprintf(stderr, "spyglass cache %s: IMAGE_ID is required\n\n", sub)
			fs.Usage()
			return 2
		}
		id, args = args[1], args[1:]
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, cacheUsage)
		return 0
	default:
		fmt.Fprintf(stderr, "spyglass cache: unknown command %q\n\n", sub)
		fs.Usage()
		return 2
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "spyglass cache %s: unexpected argument %q\n", sub, fs.Arg(0))
		return 2
	}
	addr, adminToken, err := adminTarget(*adminAt, *cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "spyglass cache: %v\n", err)
		return 2
	}
	c := &adminClient{addr: addr, adminToken: adminToken, token: *token, http: &http.Client{Timeout: 30 * time.Second}}

	switch sub {
	case "ls":
		err = c.ls(stdout, *asJSON)
	case "prefetch":
		var r string
		if r, err = c.region(*region); err == nil {
			if err = c.do("PUT", "/cache/"+url.PathEscape(r)+"/"+url.PathEscape(id), nil); err == nil {
				fmt.Fprintf(stdout, "%s: queued for caching from region %s (see: spyglass cache ls)\n", id, r)
			}
		}
	case "evict":
		var r string
		if r, err = c.region(*region); err == nil {
			if err = c.do("DELETE", "/cache/"+url.PathEscape(r)+"/"+url.PathEscape(id), nil); err == nil {
				fmt.Fprintf(stdout, "%s: evicted from the cache of region %s\n", id, r)
			}
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "spyglass cache %s: %v\n", sub, err)
		return 1
	}
	return 0
}

// adminTarget is where the instance's admin listener is — --admin, else
// admin.listen as serve would read it (the file given, the environment),
// else the default — and its token, read as serve reads it
// (SPYGLASS_ADMIN_TOKEN, else admin.token_file of the file given).
func adminTarget(flagAddr, cfgPath string) (addr, token string, err error) {
	cfg, err := config.Read(cfgPath)
	if err != nil {
		return "", "", fmt.Errorf("%v; or give the admin listener's address with --admin ADDR", err)
	}
	if token, err = cfg.Admin.ReadToken(); err != nil {
		return "", "", err
	}
	addr = flagAddr
	if addr == "" {
		addr = cfg.Admin.Listen
		from := "the default admin.listen"
		if cfgPath != "" {
			from = "admin.listen in " + cfgPath
		}
		switch {
		case addr == config.AdminOff:
			return "", "", fmt.Errorf("%s is off: that instance has no admin listener; give one with --admin ADDR", from)
		case strings.HasSuffix(addr, ":0"):
			return "", "", fmt.Errorf("%s is %s, a port chosen at start: give the address the instance logged (admin=... in \"spyglass listening\") with --admin ADDR", from, addr)
		}
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", "", fmt.Errorf("admin address %q is not host:port, e.g. 127.0.0.1:9293", addr)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), token, nil
}

type adminClient struct {
	addr       string
	adminToken string // the admin listener's, sent as Authorization: Bearer
	token      string // X-Auth-Token, forwarded by the instance to its regions
	http       *http.Client
}

// envToken is the token the openstack CLI (OS_TOKEN) or glanceclient
// (OS_AUTH_TOKEN) would send.
func envToken() string {
	if t := os.Getenv("OS_TOKEN"); t != "" {
		return t
	}
	return os.Getenv("OS_AUTH_TOKEN")
}

// do sends a request and turns a failure into one clear line.
func (c *adminClient) do(method, path string, into any) error {
	req, err := http.NewRequest(method, "http://"+c.addr+path, nil)
	if err != nil {
		return err
	}
	if c.adminToken != "" {
		req.Header.Set("Authorization", "Bearer "+c.adminToken)
	}
	if c.token != "" {
		req.Header.Set("X-Auth-Token", c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("no Spyglass admin listener at %s (connection refused): is the instance running? Point at another with --admin ADDR or --config FILE", c.addr)
		}
		return fmt.Errorf("admin listener at %s: %v; point at another with --admin ADDR", c.addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("admin listener at %s: %v", c.addr, err)
	}
	if resp.StatusCode >= 300 {
		msg := glanceErrorText(resp.StatusCode, body, c.addr)
		if resp.StatusCode == http.StatusUnauthorized {
			msg += "; spyglass cache sends the token of admin.token_file in --config FILE, or SPYGLASS_ADMIN_TOKEN"
		}
		return errors.New(msg)
	}
	if into != nil {
		if err := json.Unmarshal(body, into); err != nil {
			return fmt.Errorf("admin listener at %s: not Spyglass's cache listing (%v); is %s the admin listener of a Spyglass of this version?", c.addr, err, c.addr)
		}
	}
	return nil
}

// glanceErrorText is the detail of a Glance-shaped error body (else its
// explanation), else the status.
func glanceErrorText(status int, body []byte, addr string) string {
	var e struct{ Message, Code string }
	if json.Unmarshal(body, &e) == nil && e.Message != "" {
		explanation, detail, _ := strings.Cut(e.Message, "<br /><br />")
		msg := strings.TrimSpace(detail)
		if msg == "" {
			msg = strings.TrimSpace(explanation)
		}
		return msg + " (" + e.Code + ")"
	}
	return fmt.Sprintf("%s answered %d %s to the cache controls: is it a Spyglass admin listener (admin=... in \"spyglass listening\"), not the Images API port?",
		addr, status, http.StatusText(status))
}

func (c *adminClient) listing() (*admin.CacheListing, []byte, error) {
	var l admin.CacheListing
	if err := c.do("GET", "/cache", &l); err != nil {
		return nil, nil, err
	}
	raw, _ := json.MarshalIndent(l, "", "  ")
	return &l, raw, nil
}

// region is the region to act on: the one named, else the only cached
// region, else the default region when its data is cached.
func (c *adminClient) region(named string) (string, error) {
	if named != "" {
		return named, nil
	}
	l, _, err := c.listing()
	if err != nil {
		return "", err
	}
	switch {
	case len(l.Regions) == 1:
		return l.Regions[0], nil
	case slices.Contains(l.Regions, l.DefaultRegion):
		return l.DefaultRegion, nil
	}
	return "", fmt.Errorf("the instance caches several regions (%s): choose one with --region NAME", strings.Join(l.Regions, ", "))
}

func (c *adminClient) ls(w io.Writer, asJSON bool) error {
	l, raw, err := c.listing()
	if err != nil {
		return err
	}
	if asJSON {
		_, err := w.Write(append(raw, '\n'))
		return err
	}
	if len(l.Images) == 0 {
		fmt.Fprintf(w, "no cached images (regions cached: %s)\n", strings.Join(l.Regions, ", "))
		return nil
	}
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REGION\tIMAGE\tSTATE\tSIZE\tCACHED\tHITS\tLAST ACCESS")
	for _, e := range l.Images {
		cached, size, last := "-", "-", "-"
		if e.State != "queued" {
			size = config.Size(e.Size).String()
			cached = "100%"
			if e.Size > 0 {
				cached = fmt.Sprintf("%d%%", e.Bytes*100/e.Size)
			}
		}
		if e.LastAccessed != nil {
			last = e.LastAccessed.Local().Format("2006-01-02 15:04:05")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", e.Region, e.ImageID, e.State, size, cached, e.Hits, last)
	}
	tw.Flush()
	_, err = w.Write(buf.Bytes())
	return err
}
