"""FastAPI dependencies as ``Annotated`` aliases: the service, the settings and who is asking.

They are ``async`` (none blocks), so resolving them costs no trip through the threadpool.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from assistant.agent.service import AssistantService
from assistant.settings import ApiUser, Settings
from assistant.surfaces.threads import AnswerThreads
from assistant.tools.context import User

_bearer = HTTPBearer(auto_error=False, description="API 密钥（LINKAGE_API_KEYS 中配置）")


async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


async def get_service(request: Request) -> AssistantService:
    return request.app.state.service


async def get_answer_threads(request: Request) -> AnswerThreads:
    return request.app.state.answer_threads


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
ServiceDep = Annotated[AssistantService, Depends(get_service)]
AnswerThreadsDep = Annotated[AnswerThreads, Depends(get_answer_threads)]


def user_for(api_user: ApiUser) -> User:
    """An API identity acts with exactly its listed groups (an empty list: public knowledge only)."""
    return User(name=api_user.user, groups=list(api_user.groups), admin=api_user.admin)


def lookup_key(settings: Settings, key: str) -> ApiUser | None:
    """Constant-time comparison against every configured key, so timing reveals nothing."""
    found = None
    for candidate, api_user in settings.api_keys.items():
        if hmac.compare_digest(candidate.encode(), key.encode()):
            found = api_user
    return found


def acts_as_local_admin(request: Request) -> bool:
    """A request without a key on a local-only server (see ``create_app``) that no proxy forwarded."""
    forwarded = "forwarded" in request.headers or "x-forwarded-for" in request.headers
    return getattr(request.app.state, "local_admin", False) and not forwarded


async def current_user(
    request: Request,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    """Bearer API key → user; no key → the local administrator on a local-only server without keys,
    else the anonymous user when anonymous access is allowed."""
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        if acts_as_local_admin(request):
            return User.local_admin()
        if settings.allow_anonymous:
            return user_for(settings.anonymous_user)
        raise HTTPException(401, "需要 API 密钥：请在 Authorization 头中使用 Bearer 方式提供。", headers=challenge)
    api_user = lookup_key(settings, credentials.credentials)
    if api_user is None:
        raise HTTPException(401, "API 密钥无效。", headers=challenge)
    return user_for(api_user)


CurrentUser = Annotated[User, Depends(current_user)]


async def admin_user(user: CurrentUser) -> User:
    if not user.admin:
        raise HTTPException(403, "只有管理员可以执行此操作。")
    return user


AdminUser = Annotated[User, Depends(admin_user)]
