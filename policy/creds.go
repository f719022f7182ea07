package policy

import (
	"fmt"
	"strings"
)

// credField is a credential a generic check compares: the keys of
// oslo.context's to_policy_values(), which is what oslo.policy hands Glance's
// rules as credentials. Notably is_admin is not among them, so in Glance 25
// `is_admin:True` never matches; Spyglass keeps that.
type credField uint8

const (
	credMissing credField = iota // not a credential: the check fails
	credUserID
	credProjectID
	credRoles
	credSystemScope
	credSystem // set only when system_scope is
	credDomainID
	credUserDomainID
	credProjectDomainID
	credIsAdminProject
	credServiceUserID
	credServiceUserDomainID
	credServiceProjectID
	credServiceProjectDomainID
	credServiceRoles
)

var credFields = map[string]credField{
	"user_id": credUserID, "project_id": credProjectID, "roles": credRoles,
	"system_scope": credSystemScope, "system": credSystem, "domain_id": credDomainID,
	"user_domain_id": credUserDomainID, "project_domain_id": credProjectDomainID,
	"is_admin_project": credIsAdminProject, "service_user_id": credServiceUserID,
	"service_user_domain_id": credServiceUserDomainID, "service_project_id": credServiceProjectID,
	"service_project_domain_id": credServiceProjectDomainID, "service_roles": credServiceRoles,
}

func lookupCred(kind string) (credField, error) {
	first, rest, dotted := strings.Cut(kind, ".")
	f, ok := credFields[first]
	if !ok {
		return credMissing, nil
	}
	if dotted {
		return 0, fmt.Errorf("%s: %s has no field %q", kind, first, rest)
	}
	return f, nil
}

// credMatches is GenericCheck against the credentials: str(creds[field]) ==
// match, or any element of a list field.
func credMatches(id *Identity, f credField, tm *template, t *Target) bool {
	var s string
	switch f {
	case credRoles:
		for _, r := range id.Roles {
			if eq, ok := tm.matches(t, r, false); !ok {
				return false
			} else if eq {
				return true
			}
		}
		return false
	case credServiceRoles:
		return false
	case credSystem:
		if id.SystemScope == "" {
			return false
		}
		s = id.SystemScope
	case credUserID:
		s = noneIfEmpty(id.UserID)
	case credProjectID:
		s = noneIfEmpty(id.ProjectID)
	case credSystemScope:
		s = noneIfEmpty(id.SystemScope)
	case credDomainID:
		s = noneIfEmpty(id.DomainID)
	case credUserDomainID:
		s = noneIfEmpty(id.UserDomainID)
	case credProjectDomainID:
		s = noneIfEmpty(id.ProjectDomainID)
	case credIsAdminProject:
		s = "True"
	case credServiceUserID, credServiceUserDomainID, credServiceProjectID, credServiceProjectDomainID:
		s = "None"
	default:
		return false
	}
	eq, _ := tm.matches(t, s, false)
	return eq
}

func noneIfEmpty(s string) string {
	if s == "" {
		return "None"
	}
	return s
}
