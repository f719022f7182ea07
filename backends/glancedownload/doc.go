// Package glancedownload reads what a glance-download import copies: an
// image's record and data in another region's Glance, found in the
// caller's Keystone catalog, read with the caller's token (Glance 25's
// _ImportMetadata and _DownloadGlanceImage).
//
// The endpoint comes from the service catalog, which the operator
// registered, not from the tenant; the URL the tenant shapes is only the
// image id, a UUID. So, unlike web-download's URIs, it is not put through
// import filtering (backends/outbound); redirects are followed as
// outbound does: at most 10, and the token is not sent to another host.
//
// Usage:
//
//	src := backends.GlanceSource{ImageID: id, Region: "two", Interface: "public", Endpoint: url}
//	img, err := glancedownload.Fetch(ctx, glancedownload.Client(), src, token, glancedownload.DefaultProperties)
//	if err != nil { ... } // the task fails with err's message
//	// set img.DiskFormat, img.ContainerFormat, img.Properties on the target
//	body, err := glancedownload.Open(ctx, glancedownload.Client(), src, token)
//	defer body.Close() // stream it into the target, expecting img.Size bytes
package glancedownload
