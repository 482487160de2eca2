from django.contrib import admin
from django.urls import path

admin.site.site_header = "{{ cookiecutter.project_name }}"
admin.site.site_title = "{{ cookiecutter.project_name }}"

urlpatterns = [
    path("admin/", admin.site.urls),
]
