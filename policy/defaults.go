package policy

// Rule names one of Glance's registered policies; the gateway asks by Rule,
// so asking costs an array index, not a map lookup.
type Rule uint8

// Glance 25's registered rules (glance/policies/*.py), in its order.
const (
	Default Rule = iota
	ContextIsAdmin
	AddImage
	DeleteImage
	GetImage
	GetImages
	ModifyImage
	PublicizeImage
	CommunitizeImage
	DownloadImage
	UploadImage
	DeleteImageLocation
	GetImageLocation
	SetImageLocation
	AddMember
	DeleteMember
	GetMember
	GetMembers
	ModifyMember
	ManageImageCache
	Deactivate
	Reactivate
	CopyImage
	GetTask
	GetTasks
	AddTask
	ModifyTask
	TasksAPIAccess
	MetadefDefault
	MetadefAdmin
	GetMetadefNamespace
	GetMetadefNamespaces
	ModifyMetadefNamespace
	AddMetadefNamespace
	DeleteMetadefNamespace
	GetMetadefObject
	GetMetadefObjects
	ModifyMetadefObject
	AddMetadefObject
	DeleteMetadefObject
	ListMetadefResourceTypes
	GetMetadefResourceType
	AddMetadefResourceTypeAssociation
	RemoveMetadefResourceTypeAssociation
	GetMetadefProperty
	GetMetadefProperties
	ModifyMetadefProperty
	AddMetadefProperty
	RemoveMetadefProperty
	GetMetadefTag
	GetMetadefTags
	ModifyMetadefTag
	AddMetadefTag
	AddMetadefTags
	DeleteMetadefTag
	DeleteMetadefTags
	CacheImage
	CacheList
	CacheDelete
	StoresInfoDetail
	numRules
)

// ruleDefault is one RuleDefault: its current check string, the deprecated
// one (legacy mode ORs it in, as oslo.policy does while
// enforce_new_defaults is false), and whether it is scoped to projects.
type ruleDefault struct {
	name       string
	check      string
	deprecated string // "" with hasDeprecated false: no deprecated rule
	hasDep     bool
	project    bool // scope_types=['project']
}

// The check strings Glance composes in glance/policies/base.py.
const (
	projectMember        = `role:member and project_id:%(project_id)s`
	projectReader        = `role:reader and project_id:%(project_id)s`
	adminOrProjectMember = `role:admin or (` + projectMember + `)`
	adminOrProjectReader = `role:admin or (` + projectReader + `)`
	imageVisibleChecks   = `project_id:%(project_id)s or project_id:%(member_id)s or 'community':%(visibility)s or 'public':%(visibility)s or 'shared':%(visibility)s`
	adminOrReaderGet     = `role:admin or (role:reader and (` + imageVisibleChecks + `))`
	adminOrMemberDown    = `role:admin or (role:member and (` + imageVisibleChecks + `))`
	adminOrMemberCreate  = `role:admin or (` + projectMember + ` and project_id:%(owner)s)`
	adminOrReaderOrSM    = `role:admin or role:reader and (project_id:%(project_id)s or project_id:%(member_id)s)`
	adminOrSharedMember  = `role:admin or (role:member and project_id:%(member_id)s)`
	readerOrPublicNS     = `role:admin or (role:reader and (project_id:%(project_id)s or 'public':%(visibility)s))`
)

func dep(name, check, deprecated string) ruleDefault {
	return ruleDefault{name: name, check: check, deprecated: deprecated, hasDep: true, project: true}
}

func plain(name, check string) ruleDefault {
	return ruleDefault{name: name, check: check, project: true}
}

// defaults is Glance 25's policies.list_rules(), transcribed;
// TestDefaultsMatchGlance compares it with the installed Glance.
var defaults = [numRules]ruleDefault{
	Default:             {name: "default", check: "", deprecated: "role:admin", hasDep: true},
	ContextIsAdmin:      {name: "context_is_admin", check: "role:admin"},
	AddImage:            dep("add_image", adminOrMemberCreate, "rule:default"),
	DeleteImage:         dep("delete_image", adminOrProjectMember, "rule:default"),
	GetImage:            dep("get_image", adminOrReaderGet, "rule:default"),
	GetImages:           dep("get_images", adminOrProjectReader, "rule:default"),
	ModifyImage:         dep("modify_image", adminOrProjectMember, "rule:default"),
	PublicizeImage:      plain("publicize_image", "role:admin"),
	CommunitizeImage:    dep("communitize_image", adminOrProjectMember, "rule:default"),
	DownloadImage:       dep("download_image", adminOrMemberDown, "rule:default"),
	UploadImage:         dep("upload_image", adminOrProjectMember, "rule:default"),
	DeleteImageLocation: dep("delete_image_location", "role:admin", "rule:default"),
	GetImageLocation:    dep("get_image_location", adminOrProjectReader, "rule:default"),
	SetImageLocation:    dep("set_image_location", adminOrProjectMember, "rule:default"),
	AddMember:           dep("add_member", adminOrProjectMember, "rule:default"),
	DeleteMember:        dep("delete_member", adminOrProjectMember, "rule:default"),
	GetMember:           dep("get_member", adminOrReaderOrSM, "rule:default"),
	GetMembers:          dep("get_members", adminOrReaderOrSM, "rule:default"),
	ModifyMember:        dep("modify_member", adminOrSharedMember, "rule:default"),
	ManageImageCache:    plain("manage_image_cache", "role:admin"),
	Deactivate:          dep("deactivate", adminOrProjectMember, "rule:default"),
	Reactivate:          dep("reactivate", adminOrProjectMember, "rule:default"),
	CopyImage:           plain("copy_image", "role:admin"),
	GetTask:             dep("get_task", "rule:default", "rule:default"),
	GetTasks:            dep("get_tasks", "rule:default", "rule:default"),
	AddTask:             dep("add_task", "rule:default", "rule:default"),
	ModifyTask:          plain("modify_task", "rule:default"),
	TasksAPIAccess:      plain("tasks_api_access", "role:admin"),

	MetadefDefault:                       {name: "metadef_default", check: ""},
	MetadefAdmin:                         {name: "metadef_admin", check: "role:admin"},
	GetMetadefNamespace:                  dep("get_metadef_namespace", readerOrPublicNS, "rule:metadef_default"),
	GetMetadefNamespaces:                 dep("get_metadef_namespaces", adminOrProjectReader, "rule:metadef_default"),
	ModifyMetadefNamespace:               plain("modify_metadef_namespace", "rule:metadef_admin"),
	AddMetadefNamespace:                  plain("add_metadef_namespace", "rule:metadef_admin"),
	DeleteMetadefNamespace:               plain("delete_metadef_namespace", "rule:metadef_admin"),
	GetMetadefObject:                     dep("get_metadef_object", readerOrPublicNS, "rule:metadef_default"),
	GetMetadefObjects:                    dep("get_metadef_objects", readerOrPublicNS, "rule:metadef_default"),
	ModifyMetadefObject:                  plain("modify_metadef_object", "rule:metadef_admin"),
	AddMetadefObject:                     plain("add_metadef_object", "rule:metadef_admin"),
	DeleteMetadefObject:                  plain("delete_metadef_object", "rule:metadef_admin"),
	ListMetadefResourceTypes:             dep("list_metadef_resource_types", readerOrPublicNS, "rule:metadef_default"),
	GetMetadefResourceType:               dep("get_metadef_resource_type", readerOrPublicNS, "rule:metadef_default"),
	AddMetadefResourceTypeAssociation:    plain("add_metadef_resource_type_association", "rule:metadef_admin"),
	RemoveMetadefResourceTypeAssociation: plain("remove_metadef_resource_type_association", "rule:metadef_admin"),
	GetMetadefProperty:                   dep("get_metadef_property", readerOrPublicNS, "rule:metadef_default"),
	GetMetadefProperties:                 dep("get_metadef_properties", readerOrPublicNS, "rule:metadef_default"),
	ModifyMetadefProperty:                plain("modify_metadef_property", "rule:metadef_admin"),
	AddMetadefProperty:                   plain("add_metadef_property", "rule:metadef_admin"),
	RemoveMetadefProperty:                plain("remove_metadef_property", "rule:metadef_admin"),
	GetMetadefTag:                        dep("get_metadef_tag", readerOrPublicNS, "rule:metadef_default"),
	GetMetadefTags:                       dep("get_metadef_tags", readerOrPublicNS, "rule:metadef_default"),
	ModifyMetadefTag:                     plain("modify_metadef_tag", "rule:metadef_admin"),
	AddMetadefTag:                        plain("add_metadef_tag", "rule:metadef_admin"),
	AddMetadefTags:                       plain("add_metadef_tags", "rule:metadef_admin"),
	DeleteMetadefTag:                     plain("delete_metadef_tag", "rule:metadef_admin"),
	DeleteMetadefTags:                    plain("delete_metadef_tags", "rule:metadef_admin"),

	CacheImage:       dep("cache_image", "role:admin", "rule:manage_image_cache"),
	CacheList:        dep("cache_list", "role:admin", "rule:manage_image_cache"),
	CacheDelete:      dep("cache_delete", "role:admin", "rule:manage_image_cache"),
	StoresInfoDetail: plain("stores_info_detail", "role:admin"),
}

// String is the rule's name as Glance and policy files spell it.
func (r Rule) String() string {
	if r < numRules {
		return defaults[r].name
	}
	return "unknown"
}
