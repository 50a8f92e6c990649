from django.db import migrations, models

import generation.models


class Migration(migrations.Migration):
    dependencies = [
        ("generation", "0010_search_and_queue_indexes"),
    ]

    # Every clip rendered so far carries version 1 of the invisible mark; new jobs get the current one.
    operations = [
        migrations.AddField(
            model_name="renderjob",
            name="mark_version",
            field=models.PositiveSmallIntegerField(default=1, editable=False),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="renderjob",
            name="mark_version",
            field=models.PositiveSmallIntegerField(
                default=generation.models.mark_version_current,
                editable=False,
                help_text="The version of the invisible mark that hides the code (the reader knows every version).",
            ),
        ),
    ]
