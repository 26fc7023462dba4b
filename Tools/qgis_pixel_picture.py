# docs/qgis-pixel-coordinates.png: a scene without a CRS and `detect --pixel-coordinates` objects over it,
# drawn by QGIS (PyQGIS headless) as it places them. Usage: python3 Tools/qgis_pixel_picture.py SCENE OBJECTS.gpkg OUT.png
# The picture in docs was made from the synthetic sample scene (Samples/make_sample_scene.sh, shrunk to
# 400 x 300 with gdal_translate -co PROFILE=BASELINE and its .aux.xml removed) and the tiny random test model:
# the outlines show where QGIS puts the objects, not what they are.
import os, sys
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from qgis.core import (QgsApplication, QgsRasterLayer, QgsVectorLayer, QgsMapSettings, QgsMapRendererParallelJob,
                       QgsFillSymbol, QgsSingleSymbolRenderer)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor
app = QgsApplication([], False); app.initQgis()
raster = QgsRasterLayer(sys.argv[1], "scene")
objects = QgsVectorLayer(sys.argv[2] + "|layername=objects", "objects", "ogr")
assert raster.isValid() and objects.isValid()
symbol = QgsFillSymbol.createSimple({"color": "0,0,0,0", "outline_color": "255,40,40,255", "outline_width": "0.5"})
objects.setRenderer(QgsSingleSymbolRenderer(symbol))
settings = QgsMapSettings()
settings.setLayers([objects, raster])
settings.setExtent(raster.extent())
settings.setOutputSize(QSize(600, 450))
settings.setBackgroundColor(QColor(255, 255, 255))
job = QgsMapRendererParallelJob(settings); job.start(); job.waitForFinished()
job.renderedImage().save(sys.argv[3], "png")
print("raster extent", raster.extent().toString(), "objects extent", objects.extent().toString(), "features", objects.featureCount())
app.exitQgis()
