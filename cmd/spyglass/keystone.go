package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/spyglass-gateway/spyglass/config"
	"github.com/spyglass-gateway/spyglass/policy"
)

// keystoneConfig hands auth.keystone down to policy as a plain struct.
func keystoneConfig(k config.Keystone, log *slog.Logger) policy.KeystoneConfig {
	return policy.KeystoneConfig{
		AuthURL: k.AuthURL, Username: k.Username, Password: k.Password,
		ProjectName: k.ProjectName, UserDomainName: k.UserDomainName, ProjectDomainName: k.ProjectDomainName,
		TokenCacheTTL: k.TokenCacheTTL, InvalidTokenTTL: k.InvalidTokenTTL, Timeout: k.Timeout,
		WWWAuthenticateURI: k.WWWAuthenticateURI,
		Logger:             log,
	}
}

// regionEndpoint is a glance region's Images API URL: its endpoint, or the
// image endpoint of its region_name in the Keystone catalog.
func regionEndpoint(ctx context.Context, cfg config.Config, r *config.Region, log *slog.Logger) (string, error) {
	if r.Endpoint != "" || r.RegionName == "" {
		return r.Endpoint, nil
	}
	iface := r.Interface
	if iface == "" {
		iface = cfg.Auth.Keystone.Interface
	}
	u, err := policy.ImageEndpoint(ctx, keystoneConfig(cfg.Auth.Keystone, log), r.RegionName, iface)
	if err != nil {
		return "", fmt.Errorf("regions[%s].region_name %q: %w", r.Name, r.RegionName, err)
	}
	log.Info("region endpoint from the Keystone catalog", "region", r.Name, "region_name", r.RegionName, "interface", iface, "endpoint", u)
	return u, nil
}
