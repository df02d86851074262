from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from annotation.models import Pair
from annotation.roles import is_engineer, is_staff_role


@login_required
def home(request: HttpRequest) -> HttpResponse:
    context = {
        "pair_count": Pair.objects.count(),
        "is_engineer": is_engineer(request.user),
        "is_staff_role": is_staff_role(request.user),
    }
    return render(request, "home.html", context)


def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"ok": True, "database": connection.vendor})
