"""Under /manage/<slug>/ (composed in config/urls.py): the prompt policy, its refusals, programme presets."""

from django.urls import path

from generation import manage_views

app_name = "generation_manage"

urlpatterns = [
    path("prompt-policy/", manage_views.prompt_policy_page, name="prompt_policy"),
    path("prompt-policy/test/", manage_views.prompt_policy_test, name="prompt_policy_test"),
    path("prompt-policy/<int:rule_id>/", manage_views.prompt_rule_edit, name="prompt_rule"),
    path("prompt-policy/<int:rule_id>/toggle/", manage_views.prompt_rule_toggle, name="prompt_rule_toggle"),
    path("prompt-policy/<int:rule_id>/delete/", manage_views.prompt_rule_delete, name="prompt_rule_delete"),
    path("refusals/", manage_views.refusals, name="refusals"),
    path("presets/", manage_views.programme_presets, name="presets"),
    path("presets/<int:preset_id>/rename/", manage_views.programme_preset_rename, name="preset_rename"),
    path("presets/<int:preset_id>/delete/", manage_views.programme_preset_delete, name="preset_delete"),
]
