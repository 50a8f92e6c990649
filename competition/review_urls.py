from django.urls import path

from competition import review_views

app_name = "reviews"

urlpatterns = [
    path("", review_views.index, name="index"),
    path("<int:assignment_id>/", review_views.review, name="review"),
    path("<int:assignment_id>/watched/", review_views.watched, name="watched"),
    path("<int:assignment_id>/recuse/", review_views.recuse, name="recuse"),
    path("conflicts/", review_views.conflict_add, name="conflict_add"),
    path("conflicts/<int:conflict_id>/remove/", review_views.conflict_remove, name="conflict_remove"),
]
