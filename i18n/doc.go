// Package i18n localizes the Images API's messages as Glance's api-ref
// promises ("API Message Localization"): gettext catalogs in Glance's own
// layout, chosen per request from its Accept-Language header.
//
// Catalogs are read with github.com/leonelquinteros/gotext (.mo as msgfmt
// writes them, or .po), once, by Load; the gateway swaps in a new set on
// SIGHUP. Nothing here is consulted for a request without
// Accept-Language.
//
//	cats, err := i18n.Load("/usr/share/spyglass/locale") // <dir>/zh_CN/LC_MESSAGES/glance.mo
//	cat := cats.Negotiate(acceptLanguage)                  // nil: English
//	msg = cat.Translate("No image found with ID aaa")      // "找不到任何具有标识 aaa 的映像"
//
// Spyglass's messages are formatted where the error happens, as Glance's
// are; Translate finds the msgid a message was formatted from (its Python
// %-conversions compiled to a pattern), takes the arguments back out and
// formats the translation with them: what oslo_i18n.translate does with a
// lazy message, which keeps its msgid and arguments.
//
// The package is a leaf: it imports nothing of Spyglass's, so the gateway
// and the admin listener can both use it and it can be tested alone.
package i18n
