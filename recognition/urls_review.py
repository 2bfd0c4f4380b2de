"""URLs of the review area (included from faceweb/urls.py at /review/)."""

from django.urls import path

from recognition.views import review

urlpatterns = [
    path("", review.queue, name="review-queue"),
    path("decide", review.decide, name="review-decide"),
    path("undo", review.undo, name="review-undo"),
    path("people/", review.people, name="people"),
    path("people/<int:person_id>/", review.person_detail, name="person-detail"),
    path("people/<int:person_id>/merge", review.person_merge, name="person-merge"),
    path("faces/<int:face_id>/unassign", review.face_unassign, name="face-unassign"),
    path("faces/unassigned/", review.unassigned, name="unassigned-faces"),
    path("faces/<int:face_id>/assign", review.face_assign, name="face-assign"),
    path("stats/", review.stats, name="stats"),
]
