package glancedownload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/spyglass-gateway/spyglass/backends"
)

// Doer sends one request; *http.Client is one. A limit on concurrent
// outbound transfers wraps it.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// maxRedirects is outbound's limit (and urllib's, which Glance uses).
const maxRedirects = 10

// maxRecord bounds the image record read: Glance's records are a few KiB.
const maxRecord = 1 << 20

var client = &http.Client{CheckRedirect: checkRedirect}

// Client is the client glance-download reads with: no timeout of its own
// (an image may take hours; the caller's ctx ends it), at most 10
// redirects, and the token is not sent on to another host.
func Client() *http.Client { return client }

func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	if req.URL.Host != via[0].URL.Host {
		req.Header.Del("X-Auth-Token")
	}
	return nil
}

// DefaultProperties is Glance's [glance_download_properties]
// extra_properties default: the prefixes of the properties copied from
// the source image.
var DefaultProperties = []string{"hw_", "trait:", "os_distro", "os_secure_boot", "os_type"}

// Image is what the target takes from the source image.
type Image struct {
	DiskFormat, ContainerFormat string
	// Size is the source's size, which the data read must have.
	Size int64
	// Properties are the source's properties whose names start with one of
	// the prefixes asked for; never os_glance* (Glance reserves them).
	Properties map[string]string
}

// ErrNoEndpoint is a glance-download whose region and interface the
// caller's catalog does not have.
var ErrNoEndpoint = errors.New("glance endpoint not found")

// coreFields are the record's keys that are not properties.
var coreFields = map[string]bool{
	"id": true, "name": true, "status": true, "visibility": true, "protected": true, "os_hidden": true,
	"owner": true, "checksum": true, "os_hash_algo": true, "os_hash_value": true, "size": true,
	"virtual_size": true, "min_disk": true, "min_ram": true, "disk_format": true, "container_format": true,
	"created_at": true, "updated_at": true, "tags": true, "self": true, "file": true, "schema": true,
	"locations": true, "direct_url": true, "stores": true,
}

// Fetch reads the source image's record (GET /v2/images/{id}) as the
// caller whose token is given: it must be active and have a size. The
// errors are the task's messages, as Glance words them.
func Fetch(ctx context.Context, d Doer, src backends.GlanceSource, token string, prefixes []string) (*Image, error) {
	resp, err := get(ctx, d, src, token, "")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxRecord+1))
	if err != nil {
		return nil, fmt.Errorf("reading the remote image %s: %w", src.ImageID, err)
	}
	if len(raw) > maxRecord {
		return nil, fmt.Errorf("the remote image %s: record larger than %d bytes", src.ImageID, maxRecord)
	}
	return parseRecord(raw, src.ImageID, prefixes)
}

// parseRecord is Fetch's reading of the record.
func parseRecord(raw []byte, id string, prefixes []string) (*Image, error) {
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("the remote image %s: %v", id, err)
	}
	if st, _ := doc["status"].(string); st != backends.StatusActive {
		return nil, fmt.Errorf("Source image status should be active instead of %v", pyStr(doc["status"]))
	}
	img := &Image{Properties: map[string]string{}}
	img.DiskFormat, _ = doc["disk_format"].(string)
	img.ContainerFormat, _ = doc["container_format"].(string)
	if img.DiskFormat == "" || img.ContainerFormat == "" {
		return nil, fmt.Errorf("the remote image %s has no disk_format or container_format", id)
	}
	size, ok := doc["size"].(float64)
	if !ok || size < 0 || size != float64(int64(size)) {
		return nil, fmt.Errorf("Size attribute of remote image %s could not be determined.", id)
	}
	img.Size = int64(size)
	for k, v := range doc {
		s, isStr := v.(string)
		if !isStr || coreFields[k] || strings.HasPrefix(k, "os_glance") {
			continue
		}
		for _, p := range prefixes {
			if strings.HasPrefix(k, p) {
				img.Properties[k] = s
				break
			}
		}
	}
	return img, nil
}

// Open streams the source image's data (GET /v2/images/{id}/file).
func Open(ctx context.Context, d Doer, src backends.GlanceSource, token string) (io.ReadCloser, error) {
	resp, err := get(ctx, d, src, token, "/file")
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

func get(ctx context.Context, d Doer, src backends.GlanceSource, token, suffix string) (*http.Response, error) {
	if src.Endpoint == "" {
		// Glance's GlanceEndpointNotFound.
		return nil, fmt.Errorf("%s %w for region %s", src.Interface, ErrNoEndpoint, src.Region)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src.Endpoint+"/v2/images/"+url.PathEscape(src.ImageID)+suffix, nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	resp, err := d.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		// urllib's HTTPError, which Glance's message is.
		return nil, fmt.Errorf("HTTP Error %d: %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return resp, nil
}

// pyStr is Python's %s of a JSON value (None when absent).
func pyStr(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}
