#!/usr/bin/env bash
# cli_detector.sh — a detector from the command line: generated scenes, a small yolo model
# trained on them (its loss parts as history columns), `fovea detect` on image files (boxes
# printed, COCO's results file), `fovea evaluate` of the detector (pycocotools' twelve lines),
# and the errors of each.
set -u
source "$(dirname "$0")/data/cli_lib.bash"

expect_ok "scenes" "$FOVEA" data make detection "$TMP/scenes" --source mnist --from "$DATA/quad" \
    --train 48 --test 8 --size 32 --min-object 8 --max-object 16 --max-objects 3 --seed 3
cat >"$TMP/det.fv" <<'MODEL'
input shape=32,32,1
conv2d filters=8 kernel_size=3 strides=2 padding=same activation=relu
conv2d filters=8 kernel_size=3 strides=2 padding=same activation=relu
conv2d name=pred filters=30 kernel_size=1
yolo name=boxes classes=10 anchors=2,2,3.5,3.5 max_boxes=4
compile loss=yolo optimizer=adam learning_rate=0.01
fit batch_size=16 epochs=3
MODEL
nclasses=$(wc -l <"$TMP/scenes/classes.txt")
check "the source has the model's ten classes" test "$nclasses" -eq 10

echo "# train"
expect_ok "training on a detection folder" "$FOVEA" train "$TMP/det.fv" --data "$TMP/scenes" \
    --save "$TMP/det.safetensors" --history "$TMP/h.csv"
check "history columns are the loss and its parts, with val_" \
    grep -qx 'epoch,box_loss,cls_loss,loss,obj_loss,val_box_loss,val_cls_loss,val_loss,val_obj_loss' \
    <(head -1 "$TMP/h.csv")
check "three epochs" test "$(wc -l <"$TMP/h.csv")" -eq 4
expect_ok "two epochs with a checkpoint" "$FOVEA" train "$TMP/det.fv" --data "$TMP/scenes" \
    --epochs 2 --checkpoint "$TMP/ck"
expect_ok "resumed for the third" "$FOVEA" train "$TMP/det.fv" --data "$TMP/scenes" \
    --checkpoint "$TMP/ck" --resume --save "$TMP/resumed.safetensors" --history "$TMP/hr.csv"
same_file "a resumed detector has the uninterrupted one's weights" "$TMP/det.safetensors" \
    "$TMP/resumed.safetensors"
same_file "  ... and its history" "$TMP/h.csv" "$TMP/hr.csv"

echo "# detect"
expect_ok "detect two images" "$FOVEA" detect "$TMP/det.safetensors" --score 0.01 \
    --input "$TMP/scenes/images/test/000001.png" "$TMP/scenes/images/test/000002.png" \
    --output "$TMP/d.json"
check "one header line per image" test "$(grep -c '^/.*\.png: [0-9]* object' "$TMP/out")" -eq 2
check "boxes name a class" grep -qE '^  [^ ]+ +0\.[0-9]{3} ' "$TMP/out"
check "COCO's results with file names" grep -q '"file_name"' "$TMP/d.json"
expect_ok "a folder of images" "$FOVEA" detect "$TMP/det.safetensors" --input "$TMP/scenes/images/test"
check "every image of the folder" test "$(grep -c 'object' "$TMP/out")" -eq 8

echo "# pictures"
expect_ok "viz detections on files" "$FOVEA" viz detections "$TMP/det.safetensors" --score 0.01 \
    --input "$TMP/scenes/images/test/000001.png" "$TMP/scenes/images/test/000002.png" \
    -o "$TMP/v.svg"
check "a picture with dashed boxes" grep -q 'stroke-dasharray' "$TMP/v.svg"
expect_ok "viz detections beside the ground truth" "$FOVEA" viz detections \
    "$TMP/det.safetensors" --data "$TMP/scenes" --count 4 -o "$TMP/v.png"
check "a PNG" test -s "$TMP/v.png"
expect_error "viz detections needs one source" 2 "give --input or --data" \
    "$FOVEA" viz detections "$TMP/det.safetensors" -o "$TMP/v.png"

echo "# evaluate"
expect_ok "evaluate the detector" "$FOVEA" evaluate "$TMP/det.safetensors" --data "$TMP/scenes" \
    --output "$TMP/all.json" --plot "$TMP/pr.png"
check "pycocotools' twelve lines" test "$(grep -c 'Average \(Precision\|Recall\)' "$TMP/out")" -eq 12
check "large objects are undefined (-1)" grep -q 'area= large | maxDets=100 ] = -1.000' "$TMP/out"
check "the PR curves" test -s "$TMP/pr.png"
ap=$(grep -m1 'IoU=0.50:0.95 | area=   all' "$TMP/out")
expect_ok "its results file scores the same" "$FOVEA" evaluate --detections "$TMP/all.json" \
    --annotations "$TMP/scenes"
check "the same AP from the results file" grep -qF "$ap" "$TMP/out"

echo "# errors"
expect_ok "a classifier" "$FOVEA" train "$DATA/quad.fv" --data "$DATA/quad" --epochs 1 \
    --save "$TMP/cls.safetensors"
expect_error "detect with a classifier" 1 "not a detector" \
    "$FOVEA" detect "$TMP/cls.safetensors" --input "$TMP/scenes/images/test/000001.png"
expect_error "evaluate a classifier on a detection folder" 1 \
    "is a detection dataset, but .*cls.safetensors is not a detector" \
    "$FOVEA" evaluate "$TMP/cls.safetensors" --data "$TMP/scenes"
expect_error "a detection folder that does not exist" 1 "nosuch: no such folder" \
    "$FOVEA" evaluate "$TMP/det.safetensors" --data "$TMP/nosuch"
sed 's/max_boxes=4/max_boxes=1/' "$TMP/det.fv" >"$TMP/few.fv"
expect_error "more boxes than max_boxes" 1 "raise max_boxes on the yolo line" \
    "$FOVEA" train "$TMP/few.fv" --data "$TMP/scenes"
sed 's/^yolo.*//; s/compile loss=yolo/compile loss=mse/' "$TMP/det.fv" >"$TMP/nohead.fv"
expect_error "a detection folder for a model without a yolo head" 1 "not a yolo detection head" \
    "$FOVEA" train "$TMP/nohead.fv" --data "$TMP/scenes"
sed 's/compile loss=yolo/compile loss=yolo_v8/' "$TMP/det.fv" >"$TMP/loss.fv"
expect_error "an unknown loss names the head's" 1 "yolo \\(output layer yolo\\)" \
    "$FOVEA" train "$TMP/loss.fv" --data "$TMP/scenes"
cp -r "$TMP/scenes" "$TMP/renamed"
sed -i 's/"name":"0"/"name":"nought"/' "$TMP/renamed/annotations/instances_test.json"
expect_error "a test part whose categories name other classes" 1 \
    "category 0 is 'nought', but the model's class 0 is '0'" \
    "$FOVEA" evaluate "$TMP/det.safetensors" --data "$TMP/renamed"
expect_error "a missing image" 1 "does not exist" \
    "$FOVEA" detect "$TMP/det.safetensors" --input "$TMP/none.png"
expect_error "a score out of range" 2 "--score" \
    "$FOVEA" detect "$TMP/det.safetensors" --input "$TMP/none.png" --score 2
echo "# hostile detection folders (YOLO's layout alone)"
yolo_copy() { mkdir -p "$1" && cp -r "$TMP/scenes/images" "$TMP/scenes/labels" "$TMP/scenes/classes.txt" "$1"/; }
yolo_copy "$TMP/many"
for i in 1 2 3 4 5; do echo "1 0.5 0.5 0.2 0.2" >>"$TMP/many/labels/test/000001.txt"; done
expect_ok "evaluate an image with more boxes than max_boxes (detection needs no targets)" \
    "$FOVEA" evaluate "$TMP/det.safetensors" --data "$TMP/many"
check "pycocotools' twelve lines there too" \
    test "$(grep -c 'Average \(Precision\|Recall\)' "$TMP/out")" -eq 12
yolo_copy "$TMP/few"
head -3 "$TMP/scenes/classes.txt" >"$TMP/few/classes.txt"
for f in "$TMP"/few/labels/*/*.txt; do awk '{ $1 = $1 % 3; print }' "$f" >"$f.tmp" && mv "$f.tmp" "$f"; done
expect_error "evaluate on a set with fewer categories than the model's classes" 1 \
    "has 3 categories, but the model detects 10 classes" \
    "$FOVEA" evaluate "$TMP/det.safetensors" --data "$TMP/few"
expect_error "viz detections on a set with fewer categories than the model's classes" 1 \
    "has 3 categories, but the model detects 10 classes" \
    "$FOVEA" viz detections "$TMP/det.safetensors" --data "$TMP/few" -o "$TMP/few.png"
yolo_copy "$TMP/broken"
echo "garbage line" >>"$TMP/broken/labels/test/000001.txt"
expect_error "training with an unreadable test part names it (not trained without one)" 1 \
    "labels/test/000001.txt:[0-9]+: expected 5 fields" \
    "$FOVEA" train "$TMP/det.fv" --data "$TMP/broken" --epochs 1
yolo_copy "$TMP/notest"
rm -r "$TMP/notest/images/test" "$TMP/notest/labels/test"
expect_ok "training on a folder without a test part" \
    "$FOVEA" train "$TMP/det.fv" --data "$TMP/notest" --epochs 1
mkdir -p "$TMP/cempty/annotations"
cp -r "$TMP/scenes/images" "$TMP/cempty/"
cp "$TMP/scenes/annotations/instances_train.json" "$TMP/cempty/annotations/"
echo '{"images": [], "annotations": [], "categories": [{"id": 0, "name": "0"}]}' \
    >"$TMP/cempty/annotations/instances_test.json"
expect_error "evaluate on a COCO test part without images" 1 "test part of '.*' has no images" \
    "$FOVEA" evaluate "$TMP/det.safetensors" --data "$TMP/cempty"
expect_error "train with a COCO test part without images" 1 \
    "test part\): .*images/test: the detection set has no images" \
    "$FOVEA" train "$TMP/det.fv" --data "$TMP/cempty" --epochs 1
sed 's/filters=30/filters=16/; s/classes=10/classes=3/' "$TMP/det.fv" >"$TMP/det3.fv"
expect_error "a box of a class the head does not have names its image and category" 1 \
    "train part, [0-9]+\.png: a box of category '[3-9]' \(class [3-9]\), but the model's yolo head has classes=3 \(the folder has 10 categories\)" \
    "$FOVEA" train "$TMP/det3.fv" --data "$TMP/scenes" --epochs 1
finish
