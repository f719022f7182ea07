package glancetest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// pasteINI is the part of Glance's api-paste.ini that the trusted pipeline
// uses. python3-glance alone does not ship the paste file, so it is written
// here. The pipeline is Glance's "keystone" flavor with authtoken removed:
// the context filter then builds the request context from the
// X-Identity-Status/X-Project-Id/X-User-Id/X-Roles headers.
const pasteINI = `[composite:rootapp]
paste.composite_factory = glance.api:root_app_factory
/: apiversions
/v2: apiv2app

[app:apiversions]
paste.app_factory = glance.api.versions:create_resource

[app:apiv2app]
paste.app_factory = glance.api.v2.router:API.factory

[filter:healthcheck]
paste.filter_factory = oslo_middleware:Healthcheck.factory
backends = disable_by_file
disable_by_file_path = /etc/glance/healthcheck_disable

[filter:versionnegotiation]
paste.filter_factory = glance.api.middleware.version_negotiation:VersionNegotiationFilter.factory

[filter:context]
paste.filter_factory = glance.api.middleware.context:ContextMiddleware.factory

[filter:http_proxy_to_wsgi]
paste.filter_factory = oslo_middleware:HTTPProxyToWSGI.factory

[pipeline:glance-api-trusted]
pipeline = healthcheck http_proxy_to_wsgi versionnegotiation context rootapp

[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
delay_auth_decision = true

[pipeline:glance-api-keystone]
pipeline = healthcheck http_proxy_to_wsgi versionnegotiation authtoken context rootapp
`

// apiConf is glance-api.conf. Choices that differ from a bare glance.sh
// recipe, and why:
//
//   - image_cache_dir is set (the cache middleware is not in the pipeline),
//     unless Options.NoImageCache.
//     A stock Glance 25 install sets it (Debian's and devstack's
//     glance-api.conf do), and it decides the versions document:
//     glance/api/versions.py lists v2.16 CURRENT, v2.15 and v2.14 only when
//     it is set, otherwise v2.15 CURRENT and no v2.14/v2.16.
//   - [oslo_policy] enforce_new_defaults=false, enforce_scope=false and
//     [DEFAULT] enforce_secure_rbac=false are exactly Glance 25's and
//     oslo.policy 4.0's defaults (checked in glance/common/config.py and
//     oslo_policy/opts.py); they are written out so the test does not change
//     meaning if a packaged default moves. With them, Glance applies its
//     legacy rules: admin is "role:admin", everything else is open to any
//     project subject to the visibility/ownership checks in code, which is
//     what `openstack` users of a stock Zed cloud see. No policy file exists
//     under /etc/glance, so none is loaded.
const apiConf = `[DEFAULT]
bind_host = 127.0.0.1
bind_port = %[2]d
workers = 1
log_file = %[1]s/api.log
enabled_backends = local:file
image_size_cap = 10995116277760
%[5]senforce_secure_rbac = %[3]s

[database]
connection = sqlite:///%[1]s/glance.sqlite

[glance_store]
default_backend = local

[local]
filesystem_store_datadir = %[1]s/images

[os_glance_staging_store]
filesystem_store_datadir = %[1]s/staging

[os_glance_tasks_store]
filesystem_store_datadir = %[1]s/tasks

[paste_deploy]
flavor = %[6]s
config_file = %[1]s/glance-api-paste.ini

[oslo_concurrency]
lock_path = %[1]s/lock

[oslo_policy]
enforce_new_defaults = %[3]s
enforce_scope = %[3]s
policy_file = %[4]s
`

// Options choose how the Glance Start launches enforces its policy.
type Options struct {
	// NewDefaults runs Glance with its secure-RBAC defaults: [oslo_policy]
	// enforce_new_defaults and enforce_scope and [DEFAULT]
	// enforce_secure_rbac all true (Glance refuses to start when the
	// latter two differ). False: the stock legacy defaults.
	NewDefaults bool
	// PolicyFile is an oslo.policy file for Glance to load; empty means
	// none (Glance then finds no policy.yaml and uses its defaults).
	PolicyFile string
	// NoImageCache leaves image_cache_dir unset, as a Glance that caches
	// no image data runs: its versions document lists v2.15 CURRENT and no
	// v2.14/v2.16, it answers 300 to those prefixes, and /v2/cache answers
	// "Caching via API is not supported at this site." — as Spyglass over
	// its embedded store. False: image_cache_dir is set (a stock install).
	NoImageCache bool
	// Keystone, when set, makes Glance validate X-Auth-Token with that
	// Keystone (keystonemiddleware's authtoken in the pipeline, Glance's
	// stock "keystone" flavor) instead of believing identity headers.
	// Nil: the trusted-header pipeline.
	Keystone *KeystoneAuth
	// Metadefs is a directory of metadata definition files (glance-common's
	// /usr/share/glance-common/metadefs, *.json) that glance-manage
	// db_load_metadefs loads before the API starts, as a stock install
	// does. Empty: no metadefs (no namespaces, no resource types).
	Metadefs string
	// ExtraConfig is appended to glance-api.conf: more sections or options
	// (oslo.config merges a section given twice), e.g.
	// "[import_filtering_opts]\nallowed_ports = []\n". Empty: nothing.
	ExtraConfig string
	// ImportFiltering is the body of glance-api.conf's
	// [import_filtering_opts] section ("allowed_ports = [1]\n": oslo.config
	// wants the brackets for these bounded lists); empty:
	// Glance's defaults.
	ImportFiltering string
	// Locations runs Glance as the oracle of the v2 locations API:
	// show_multiple_locations and show_image_direct_url true, and a
	// read-only http store ("web") beside the file store, so that http
	// URLs are locations it can size. False: both off (Glance's
	// defaults), file store only.
	Locations bool
	// FileStores are more file stores beside "local" (enabled_backends),
	// each keeping its data in <dir>/images-<name>: a multi-store Glance,
	// the oracle of imports to several stores. Nil: "local" alone.
	FileStores []string
}

// KeystoneAuth is Glance's [keystone_authtoken]: the Keystone v3 that
// validates callers' tokens and the service user Glance does it as (it
// needs the admin or service role on its project).
type KeystoneAuth struct {
	AuthURL  string // Keystone's v3 URL, e.g. http://127.0.0.1:5000/v3
	Username string
	Password string
	Project  string // the service user's project name, in domain Default
}

func writeConfig(dir string, port int, opts Options) error {
	if err := os.WriteFile(filepath.Join(dir, "glance-api-paste.ini"), []byte(pasteINI), 0o644); err != nil {
		return err
	}
	policyFile := opts.PolicyFile
	if policyFile == "" {
		// A name that exists nowhere: oslo.policy skips a missing file, and
		// the default "policy.yaml" could be found through the config
		// directories.
		policyFile = filepath.Join(dir, "no-policy.yaml")
	} else if abs, err := filepath.Abs(policyFile); err == nil {
		policyFile = abs
	}
	flag := "false"
	if opts.NewDefaults {
		flag = "true"
	}
	cacheDir := "image_cache_dir = " + dir + "/cache\n"
	if opts.NoImageCache {
		cacheDir = ""
	}
	flavor, authtoken := "trusted", ""
	if k := opts.Keystone; k != nil {
		flavor = "keystone"
		authtoken = fmt.Sprintf(`
[keystone_authtoken]
www_authenticate_uri = %[1]s
auth_url = %[1]s
auth_type = password
username = %[2]s
password = %[3]s
project_name = %[4]s
user_domain_name = Default
project_domain_name = Default
service_token_roles_required = true
`, k.AuthURL, k.Username, k.Password, k.Project)
	}
	conf := fmt.Sprintf(apiConf, dir, port, flag, policyFile, cacheDir, flavor) + authtoken + opts.ExtraConfig
	if opts.ImportFiltering != "" {
		conf += "\n[import_filtering_opts]\n" + opts.ImportFiltering
	}
	if opts.Locations {
		conf = strings.Replace(conf, "enabled_backends = local:file\n",
			"enabled_backends = local:file, web:http\nshow_multiple_locations = true\nshow_image_direct_url = true\n", 1)
	}
	if len(opts.FileStores) > 0 {
		backends := "enabled_backends = local:file"
		for _, name := range opts.FileStores {
			backends += ", " + name + ":file"
			conf += fmt.Sprintf("\n[%s]\nfilesystem_store_datadir = %s/images-%s\n", name, dir, name)
		}
		conf = strings.Replace(conf, "enabled_backends = local:file", backends, 1)
	}
	return os.WriteFile(filepath.Join(dir, "glance-api.conf"), []byte(conf), 0o644)
}
