#!/usr/bin/python3
"""Opens landscribe's outputs in a real QGIS (PyQGIS, headless) and checks what a GIS user sees.

Run by Tools/qgis_check.sh (make test-qgis), which makes the outputs first. Arguments: the
folder holding them, and where to write the rendered PNG. Checks:
- map.tif opened from a folder that holds only map.tif and map.qml: QGIS loads the style by
  itself; the renderer is paletted with the pipeline's class names and colours;
- the objects as GeoJSON (EPSG:4326), GeoPackage and FlatGeobuf (the scene's CRS): valid
  layers, their CRS, the same feature count, inside the map's extent once in its CRS;
- a scene without a CRS: the class map and detect --pixel-coordinates objects (GeoPackage)
  lie on each other in QGIS (the objects' extent within the raster's), the GeoPackage's CRS
  is not geographic;
- the map with the objects over it renders to a PNG that is not blank.
Exits 1 with the failed checks listed.
"""
import json
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import (Qgis, QgsApplication, QgsCoordinateTransform, QgsFillSymbol, QgsSingleSymbolRenderer, QgsMapRendererParallelJob,
                       QgsMapSettings, QgsProject, QgsRasterLayer, QgsVectorLayer)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor

failures = []


def check(condition, what):
    print(("ok    " if condition else "FAIL  ") + what)
    if not condition:
        failures.append(what)


def main(folder, png):
    QgsApplication.setPrefixPath("/usr", True)
    app = QgsApplication([], False)
    app.initQgis()
    expected = json.load(open(os.path.join(folder, "expected.json")))

    # 1. The class map, from a copy that holds only the .tif and its .qml.
    copy = os.path.join(folder, "copy")
    check(sorted(os.listdir(copy)) == ["map.qml", "map.tif"], f"the copy holds only map.tif and map.qml: {sorted(os.listdir(copy))}")
    raster = QgsRasterLayer(os.path.join(copy, "map.tif"), "map")
    check(raster.isValid(), "QGIS opens map.tif")
    renderer = raster.renderer()
    check(renderer is not None and renderer.type() == "paletted", f"the renderer is paletted (got {renderer.type() if renderer else None})")
    if renderer is not None and renderer.type() == "paletted":
        classes = renderer.classes()
        names = [c.label for c in classes]
        colors = [c.color.name().lower() for c in classes]
        values = [c.value for c in classes]
        check(names == expected["classes"], f"class names {names} == {expected['classes']}")
        check(colors == expected["colors"], f"class colours {colors} == {expected['colors']}")
        check(values == list(range(len(expected["classes"]))), f"class values {values}")
    check(raster.dataProvider().sourceNoDataValue(1) == 255 and raster.dataProvider().sourceHasNoDataValue(1), "nodata 255")
    check(raster.bandCount() == 1, "the class map has one band (the confidence is its own file)")
    check(raster.crs().authid() == "EPSG:32632", f"the map's CRS is EPSG:32632 (got {raster.crs().authid()})")

    # 2. The objects in three formats.
    layers = []
    counts = {}
    for name, crs in [("objects.geojson", "EPSG:4326"), ("objects.gpkg", "EPSG:32632"), ("objects.fgb", "EPSG:32632")]:
        layer = QgsVectorLayer(os.path.join(folder, name), name, "ogr")
        check(layer.isValid(), f"QGIS opens {name}")
        check(layer.crs().authid() == crs, f"{name} is in {crs} (got {layer.crs().authid()})")
        counts[name] = layer.featureCount()
        # Within the map, compared in the layer's CRS (the map's extent carried over, 1e-6 of slack
        # for the GeoJSON's 7 decimals).
        mapExtent = raster.extent()
        if layer.crs() != raster.crs():
            mapExtent = QgsCoordinateTransform(raster.crs(), layer.crs(), QgsProject.instance()).transformBoundingBox(mapExtent)
        slack = 1e-6 if layer.crs().isGeographic() else 0.01
        check(mapExtent.buffered(slack).contains(layer.extent()),
              f"{name} lies on the map: {layer.extent().toString(7)} in {mapExtent.toString(7)}")
        layers.append(layer)
    check(len(set(counts.values())) == 1 and counts["objects.gpkg"] == expected["objects"],
          f"every format holds the {expected['objects']} objects detect reported: {counts}")

    # 3. A scene without a CRS: objects in pixel coordinates lie on the raster.
    plain = QgsRasterLayer(os.path.join(folder, "plain-map.tif"), "plain")
    pixels = QgsVectorLayer(os.path.join(folder, "plain-objects.gpkg"), "pixels", "ogr")
    check(plain.isValid() and pixels.isValid(), "QGIS opens the map and objects of a scene without a CRS")
    check(not pixels.crs().isGeographic(), f"their GeoPackage's CRS is not geographic ({pixels.crs().description()})")
    check(pixels.featureCount() > 0, f"pixel-coordinate objects: {pixels.featureCount()}")
    check(plain.extent().contains(pixels.extent()),
          f"pixel-coordinate objects lie on the raster: {pixels.extent().toString(1)} in {plain.extent().toString(1)}")
    check(plain.extent().yMaximum() == 0 and plain.extent().yMinimum() == -plain.height(),
          f"QGIS places the raster from y = 0 down to y = -height: {plain.extent().toString(1)}")

    # 4. The map with the objects over it, rendered.
    objects = layers[1]
    outline = QgsFillSymbol.createSimple({"style": "no", "outline_color": "#000000", "outline_width": "0.4"})
    objects.setRenderer(QgsSingleSymbolRenderer(outline))
    settings = QgsMapSettings()
    settings.setLayers([objects, raster])
    settings.setDestinationCrs(raster.crs())
    settings.setExtent(raster.extent())
    settings.setOutputSize(QSize(600, 450))
    settings.setBackgroundColor(QColor(255, 255, 255))
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    image.save(png, "png")
    colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
    check(os.path.getsize(png) > 0 and len(colours) >= 3, f"the rendered PNG is not blank: {len(colours)} colours sampled, {png}")

    if failures:
        print(f"{len(failures)} QGIS checks failed")
    else:
        print(f"all QGIS checks passed (QGIS {Qgis.QGIS_VERSION})")
    sys.stdout.flush()
    # Without exitQgis: PyQGIS 3.22 can abort in its teardown ("double free") after the checks.
    os._exit(1 if failures else 0)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
