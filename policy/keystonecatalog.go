package policy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
)

// Catalog interfaces, as keystoneauth names them.
const (
	InterfacePublic   = "public"
	InterfaceInternal = "internal"
	InterfaceAdmin    = "admin"
)

// ImageEndpoint finds the Images API (service type "image") endpoint of
// region for iface (public, internal or admin; empty means public) in the
// Keystone service catalog, logging in with cfg's service credentials. The
// URL is returned as registered, without a trailing slash; the endpoint
// itself is not contacted.
func ImageEndpoint(ctx context.Context, cfg KeystoneConfig, region, iface string) (string, error) {
	return catalogEndpoint(ctx, cfg, "image", region, iface)
}

func catalogEndpoint(ctx context.Context, cfg KeystoneConfig, serviceType, region, iface string) (string, error) {
	if iface == "" {
		iface = InterfacePublic
	}
	switch iface {
	case InterfacePublic, InterfaceInternal, InterfaceAdmin:
	default:
		return "", fmt.Errorf("keystone catalog: interface %q: use public, internal or admin", iface)
	}
	if err := checkKeystoneURL(cfg.AuthURL); err != nil {
		return "", fmt.Errorf("keystone catalog: auth_url: %w", err)
	}
	if cfg.UserDomainName == "" {
		cfg.UserDomainName = "Default"
	}
	if cfg.ProjectDomainName == "" {
		cfg.ProjectDomainName = "Default"
	}
	if cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
	}
	provider, err := openstack.NewClient(cfg.AuthURL)
	if err != nil {
		return "", fmt.Errorf("keystone catalog: %w", err)
	}
	provider.HTTPClient = http.Client{Timeout: cfg.Timeout}
	opts := &tokens.AuthOptions{Username: cfg.Username, Password: cfg.Password, DomainName: cfg.UserDomainName}
	if cfg.ProjectName != "" {
		opts.Scope = tokens.Scope{ProjectName: cfg.ProjectName, DomainName: cfg.ProjectDomainName}
	}
	if err := openstack.AuthenticateV3(ctx, provider, opts, gophercloud.EndpointOpts{}); err != nil {
		return "", fmt.Errorf("keystone catalog: service login as %q: %w", cfg.Username, err)
	}
	// Version 0: no discovery request to the endpoint found, which may be
	// down while the gateway starts.
	u, err := provider.EndpointLocator(gophercloud.EndpointOpts{
		Type: serviceType, Region: region, Availability: gophercloud.Availability(iface),
	})
	if err != nil {
		var nf *gophercloud.ErrEndpointNotFound
		if errors.As(err, &nf) {
			return "", fmt.Errorf("keystone catalog: no %s endpoint for region %q and interface %s; register one (openstack endpoint create --region %s %s %s URL) or fix the region name", serviceType, region, iface, region, serviceType, iface)
		}
		return "", fmt.Errorf("keystone catalog: %w", err)
	}
	return strings.TrimSuffix(u, "/"), nil
}
