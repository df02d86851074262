"""The project's admin site: Django's, plus admin pages that are not a model's changelist.

Installed through `StudioAdminConfig` in INSTALLED_APPS, so `django.contrib.admin.site`
(and every `@admin.register`) is this site.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.urls import URLPattern, URLResolver, path, reverse_lazy
from django.views.generic import RedirectView


def _annotation_admin_urls(site: admin.AdminSite) -> list[URLPattern]:
    try:
        from annotation.admin_import import admin_import_urls
    except ModuleNotFoundError:
        # Until the import page lands, keep its URL name alive so links to it work.
        placeholder = RedirectView.as_view(url=reverse_lazy("admin:annotation_pair_changelist"))
        return [path("annotation/import/", site.admin_view(placeholder), name="annotation_import")]
    return admin_import_urls()


class StudioAdminSite(admin.AdminSite):
    site_header = "Relevance Studio"
    site_title = "Relevance Studio"
    index_title = "Administration"

    def get_urls(self) -> list[URLResolver | URLPattern]:
        # Before Django's own patterns, so "annotation/import/" is not read as a model URL.
        return [*_annotation_admin_urls(self), *super().get_urls()]


class StudioAdminConfig(AdminConfig):
    default_site = "relevance_site.admin_site.StudioAdminSite"
