from django.db import migrations, models


def emails_copy(apps, schema_editor):
    ReviewerConflict = apps.get_model("competition", "ReviewerConflict")
    for conflict in ReviewerConflict.objects.select_related("person").iterator(chunk_size=1000):
        conflict.email = conflict.person.email.lower()
        conflict.save(update_fields=["email"])


class Migration(migrations.Migration):
    """Declared conflicts are kept as the email address the reviewer typed, never resolved to an account,
    so that declaring one reveals nothing about who is a member."""

    dependencies = [
        ("competition", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="reviewerconflict",
            name="email",
            field=models.EmailField(default="", help_text="Lower case.", max_length=254),
            preserve_default=False,
        ),
        migrations.RunPython(emails_copy, migrations.RunPython.noop),
        migrations.RemoveConstraint(model_name="reviewerconflict", name="conflict_unique"),
        migrations.RemoveField(model_name="reviewerconflict", name="person"),
        migrations.AddConstraint(
            model_name="reviewerconflict",
            constraint=models.UniqueConstraint(fields=("programme", "reviewer", "email"), name="conflict_unique_email"),
        ),
    ]
