"""User management forms."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import BeforeValidator

from composer.models import Role
from composer.web.forms import PostedForm


def _known_roles(values: object) -> frozenset[Role]:
    # A role name the app does not know is ignored, as a box that was not ticked.
    names = values if isinstance(values, list) else []
    return frozenset(Role(name) for name in names if name in Role._value2member_map_)


Roles = Annotated[frozenset[Role], BeforeValidator(_known_roles)]


class RolesForm(PostedForm):
    """The role boxes ticked for one user."""

    multi_valued: ClassVar[frozenset[str]] = frozenset({"roles"})

    roles: Roles = frozenset()


class NewUserForm(RolesForm):
    email: str = ""
    display_name: str = ""


class ActiveForm(PostedForm):
    active: str = ""

    @property
    def activate(self) -> bool:
        """Whether the account is to be active ("1"), or deactivated (anything else)."""
        return self.active == "1"
