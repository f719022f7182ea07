package keystonetest

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/endpoints"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/projects"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/regions"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/roles"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/services"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/users"
)

// adminClient is the bootstrap admin's identity v3 client, with the role
// ids looked up once.
type adminClient struct {
	sc    *gophercloud.ServiceClient
	mu    sync.Mutex
	roles map[string]string
}

// Admin returns an identity v3 client authenticated as the bootstrap admin
// (project-scoped to project admin), created on first use.
func (k *Keystone) Admin(ctx context.Context) (*gophercloud.ServiceClient, error) {
	a, err := k.adminClient(ctx)
	if err != nil {
		return nil, err
	}
	return a.sc, nil
}

func (k *Keystone) adminClient(ctx context.Context) (*adminClient, error) {
	k.adminMu.Lock()
	defer k.adminMu.Unlock()
	if k.admin != nil {
		return k.admin, nil
	}
	provider, err := openstack.NewClient(k.AuthURL())
	if err != nil {
		return nil, err
	}
	provider.HTTPClient = http.Client{Timeout: 60 * time.Second}
	err = openstack.AuthenticateV3(ctx, provider, &tokens.AuthOptions{
		Username: AdminUser, Password: AdminPassword, DomainID: DefaultDomain,
		Scope:       tokens.Scope{ProjectName: AdminProject, DomainID: DefaultDomain},
		AllowReauth: true,
	}, gophercloud.EndpointOpts{})
	if err != nil {
		return nil, fmt.Errorf("keystonetest: authenticate as admin: %w", err)
	}
	sc, err := openstack.NewIdentityV3(provider, gophercloud.EndpointOpts{})
	if err != nil {
		return nil, err
	}
	k.admin = &adminClient{sc: sc, roles: map[string]string{}}
	return k.admin, nil
}

// User is a Keystone user of the default domain.
type User struct {
	ID, Name, Password string
}

// Fixture is the cast of the identity tests: two projects, an ordinary
// member of each, an admin and a reader (both of project A).
type Fixture struct {
	ProjectA, ProjectB string // project ids
	MemberA            User   // role member on A
	MemberB            User   // role member on B
	Admin              User   // role admin on A (so also member and reader, implied)
	Reader             User   // role reader on A
}

// NewFixture creates the fixture's projects, users and role assignments;
// suffix keeps names unique when a test needs two fixtures in one Keystone.
func (k *Keystone) NewFixture(ctx context.Context, suffix string) (*Fixture, error) {
	fx := &Fixture{}
	var err error
	if fx.ProjectA, err = k.CreateProject(ctx, "project-a"+suffix); err != nil {
		return nil, err
	}
	if fx.ProjectB, err = k.CreateProject(ctx, "project-b"+suffix); err != nil {
		return nil, err
	}
	for _, u := range []struct {
		dst     *User
		name    string
		project string
		role    string
	}{
		{&fx.MemberA, "member-a", fx.ProjectA, "member"},
		{&fx.MemberB, "member-b", fx.ProjectB, "member"},
		{&fx.Admin, "admin-a", fx.ProjectA, "admin"},
		{&fx.Reader, "reader-a", fx.ProjectA, "reader"},
	} {
		if *u.dst, err = k.CreateUser(ctx, u.name+suffix, "pw-"+u.name+suffix); err != nil {
			return nil, err
		}
		if err := k.Grant(ctx, u.dst.ID, u.project, u.role); err != nil {
			return nil, err
		}
	}
	return fx, nil
}

// FixtureT is NewFixture that fails the test on error.
func (k *Keystone) FixtureT(t testing.TB) *Fixture {
	t.Helper()
	fx, err := k.NewFixture(context.Background(), "")
	if err != nil {
		t.Fatalf("keystone fixture: %v", err)
	}
	return fx
}

// CreateProject creates a project in the default domain and returns its id.
func (k *Keystone) CreateProject(ctx context.Context, name string) (string, error) {
	a, err := k.adminClient(ctx)
	if err != nil {
		return "", err
	}
	p, err := projects.Create(ctx, a.sc, projects.CreateOpts{Name: name, DomainID: DefaultDomain}).Extract()
	if err != nil {
		return "", fmt.Errorf("keystonetest: create project %s: %w", name, err)
	}
	return p.ID, nil
}

// CreateUser creates a user in the default domain.
func (k *Keystone) CreateUser(ctx context.Context, name, password string) (User, error) {
	a, err := k.adminClient(ctx)
	if err != nil {
		return User{}, err
	}
	u, err := users.Create(ctx, a.sc, users.CreateOpts{Name: name, Password: password, DomainID: DefaultDomain}).Extract()
	if err != nil {
		return User{}, fmt.Errorf("keystonetest: create user %s: %w", name, err)
	}
	return User{ID: u.ID, Name: name, Password: password}, nil
}

// RoleID returns the id of the role with this name (admin, member, reader
// exist after bootstrap).
func (k *Keystone) RoleID(ctx context.Context, name string) (string, error) {
	a, err := k.adminClient(ctx)
	if err != nil {
		return "", err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if id, ok := a.roles[name]; ok {
		return id, nil
	}
	pages, err := roles.List(a.sc, roles.ListOpts{Name: name}).AllPages(ctx)
	if err != nil {
		return "", fmt.Errorf("keystonetest: list roles: %w", err)
	}
	rs, err := roles.ExtractRoles(pages)
	if err != nil {
		return "", err
	}
	if len(rs) == 0 {
		r, err := roles.Create(ctx, a.sc, roles.CreateOpts{Name: name}).Extract()
		if err != nil {
			return "", fmt.Errorf("keystonetest: create role %s: %w", name, err)
		}
		rs = append(rs, *r)
	}
	a.roles[name] = rs[0].ID
	return rs[0].ID, nil
}

// Grant gives userID the role (by name) on projectID.
func (k *Keystone) Grant(ctx context.Context, userID, projectID, role string) error {
	return k.assign(ctx, roles.AssignOpts{UserID: userID, ProjectID: projectID}, role, true)
}

// GrantDomain gives userID the role on domainID.
func (k *Keystone) GrantDomain(ctx context.Context, userID, domainID, role string) error {
	return k.assign(ctx, roles.AssignOpts{UserID: userID, DomainID: domainID}, role, true)
}

// Ungrant removes the role from userID on projectID. Keystone then revokes
// the user's tokens for that project.
func (k *Keystone) Ungrant(ctx context.Context, userID, projectID, role string) error {
	return k.assign(ctx, roles.AssignOpts{UserID: userID, ProjectID: projectID}, role, false)
}

func (k *Keystone) assign(ctx context.Context, opts roles.AssignOpts, role string, grant bool) error {
	a, err := k.adminClient(ctx)
	if err != nil {
		return err
	}
	id, err := k.RoleID(ctx, role)
	if err != nil {
		return err
	}
	if grant {
		err = roles.Assign(ctx, a.sc, id, opts).ExtractErr()
	} else {
		err = roles.Unassign(ctx, a.sc, id, roles.UnassignOpts(opts)).ExtractErr()
	}
	if err != nil {
		return fmt.Errorf("keystonetest: role %s for user %s: %w", role, opts.UserID, err)
	}
	return nil
}

// Token is a token Keystone issued.
type Token struct {
	ID        string
	ExpiresAt time.Time
}

// IssueToken authenticates u with its password, scoped as scope asks (a
// project, a domain; empty: unscoped).
func (k *Keystone) IssueToken(ctx context.Context, u User, scope tokens.Scope) (Token, error) {
	a, err := k.adminClient(ctx)
	if err != nil {
		return Token{}, err
	}
	r := tokens.Create(ctx, a.sc, &tokens.AuthOptions{
		Username: u.Name, Password: u.Password, DomainID: DefaultDomain, Scope: scope,
	})
	tok, err := r.ExtractToken()
	if err != nil {
		return Token{}, fmt.Errorf("keystonetest: token for %s: %w", u.Name, err)
	}
	return Token{ID: tok.ID, ExpiresAt: tok.ExpiresAt}, nil
}

// ProjectToken issues u a token scoped to projectID.
func (k *Keystone) ProjectToken(ctx context.Context, u User, projectID string) (Token, error) {
	return k.IssueToken(ctx, u, tokens.Scope{ProjectID: projectID})
}

// DomainToken issues u a token scoped to domainID.
func (k *Keystone) DomainToken(ctx context.Context, u User, domainID string) (Token, error) {
	return k.IssueToken(ctx, u, tokens.Scope{DomainID: domainID})
}

// ProjectTokenT is ProjectToken that fails the test on error.
func (k *Keystone) ProjectTokenT(t testing.TB, u User, projectID string) string {
	t.Helper()
	tok, err := k.ProjectToken(context.Background(), u, projectID)
	if err != nil {
		t.Fatal(err)
	}
	return tok.ID
}

// RevokeToken revokes a token (DELETE /v3/auth/tokens).
func (k *Keystone) RevokeToken(ctx context.Context, token string) error {
	a, err := k.adminClient(ctx)
	if err != nil {
		return err
	}
	if err := tokens.Revoke(ctx, a.sc, token).Err; err != nil {
		return fmt.Errorf("keystonetest: revoke token: %w", err)
	}
	return nil
}

// RegisterEndpoint puts a service of serviceType (named name) in the
// catalog with an endpoint url for region and iface (public, internal,
// admin); the service and the region are created when missing.
func (k *Keystone) RegisterEndpoint(ctx context.Context, serviceType, name, region, iface, url string) error {
	a, err := k.adminClient(ctx)
	if err != nil {
		return err
	}
	pages, err := services.List(a.sc, services.ListOpts{ServiceType: serviceType, Name: name}).AllPages(ctx)
	if err != nil {
		return fmt.Errorf("keystonetest: list services: %w", err)
	}
	svcs, err := services.ExtractServices(pages)
	if err != nil {
		return err
	}
	var serviceID string
	if len(svcs) > 0 {
		serviceID = svcs[0].ID
	} else {
		s, err := services.Create(ctx, a.sc, services.CreateOpts{Type: serviceType, Extra: map[string]any{"name": name}}).Extract()
		if err != nil {
			return fmt.Errorf("keystonetest: create service %s: %w", serviceType, err)
		}
		serviceID = s.ID
	}
	if _, err := regions.Get(ctx, a.sc, region).Extract(); err != nil {
		if !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			return fmt.Errorf("keystonetest: region %s: %w", region, err)
		}
		if _, err := regions.Create(ctx, a.sc, regions.CreateOpts{ID: region}).Extract(); err != nil {
			return fmt.Errorf("keystonetest: create region %s: %w", region, err)
		}
	}
	_, err = endpoints.Create(ctx, a.sc, endpoints.CreateOpts{
		Availability: gophercloud.Availability(iface), Region: region, URL: url, ServiceID: serviceID,
	}).Extract()
	if err != nil {
		return fmt.Errorf("keystonetest: create %s endpoint %s: %w", serviceType, url, err)
	}
	return nil
}
