from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import User

# Django's own user admin, registered for our model (devices' owner autocomplete searches it).
admin.site.register(User, UserAdmin)
