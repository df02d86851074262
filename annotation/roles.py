"""The three roles: annotators grade, reviewers adjudicate and browse, engineers run everything.

Roles are Django groups so that they show in the admin; engineers and reviewers are
staff (they may open the admin), annotators are not.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group, Permission

ANNOTATOR = "annotator"
REVIEWER = "reviewer"
ENGINEER = "engineer"
ROLES = (ANNOTATOR, REVIEWER, ENGINEER)
_MANAGED_APPS = ("annotation", "modeling", "evaluation")


def has_role(user: AbstractBaseUser | AnonymousUser, *roles: str) -> bool:
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    return user.groups.filter(name__in=roles).exists()


def is_engineer(user: AbstractBaseUser | AnonymousUser) -> bool:
    return has_role(user, ENGINEER)


def is_staff_role(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Reviewers and engineers: may see dashboards and everyone's judgments."""
    return has_role(user, REVIEWER, ENGINEER)


def ensure_role_groups() -> dict[str, Group]:
    """Create the role groups with their permissions (idempotent)."""
    app_perms = Permission.objects.filter(content_type__app_label__in=_MANAGED_APPS)
    groups = {name: Group.objects.get_or_create(name=name)[0] for name in ROLES}
    groups[ENGINEER].permissions.set(app_perms)
    groups[REVIEWER].permissions.set(app_perms.filter(codename__startswith="view_"))
    groups[ANNOTATOR].permissions.clear()
    return groups
