from django.urls import path

from recognition.views import uploader

urlpatterns = [
    path("", uploader.home, name="home"),
    path("consent/", uploader.consent, name="consent"),
    path("consent/<int:consent_id>/withdraw", uploader.consent_withdraw, name="consent-withdraw"),
    path("consent/receipts/<uuid:receipt_id>.json", uploader.consent_receipt, name="consent-receipt"),
    path("photos/", uploader.photo_list, name="photos"),
    path("photos/upload", uploader.photo_upload, name="photo-upload"),
    path("photos/status.json", uploader.photo_status, name="photo-status"),
    path("photos/<int:photo_id>/", uploader.photo_detail, name="photo-detail"),
    path("photos/<int:photo_id>/delete", uploader.photo_delete, name="photo-delete"),
    path("photos/<int:photo_id>/image.jpg", uploader.photo_image, name="photo-image"),
    path("faces/<int:face_id>/crop.jpg", uploader.face_crop, name="face-crop"),
]
