#!/usr/bin/env bash
# cli_pose_model.sh — a pose network from the command line on a tiny rendered BOP dataset:
# `fovea train` reads the folder (each image resized, K with it), `fovea pose` prints and writes
# BOP's CSV (K from scene_camera.json or --K), `fovea evaluate MODEL --data` gives the figures
# `evaluate --poses` gives for the same estimates, --plot, `fovea viz pose`; bad input named.
set -u
source "$(dirname "$0")/data/cli_lib.bash"
cd "$TMP"

run "$FOVEA" data make pose ds --object tripod --train 8 --test 4 --size 32 --seed 2 \
    --backgrounds none
if [ "$status" -ne 0 ] && grep -q "OSMesa cannot create an OpenGL context" "$TMP/err"; then
    skip "fovea data make pose: OSMesa cannot render here ($(cat "$TMP/err"))"
    finish
fi
check "data make pose succeeds" test "$status" -eq 0
cat >pose.fv <<'FV'
input shape=16,16,3
conv2d filters=4 kernel_size=4 strides=4
relu
flatten
dense units=9
pose extent=85,61,41
compile loss=pose optimizer=adam learning_rate=0.001
fit batch_size=4 epochs=1
FV

echo "# train"
run "$FOVEA" train pose.fv --data ds --save pose.safetensors --seed 1
check "train succeeds" test "$status" -eq 0
check "names the object and the images" \
    grep -q "obj_id 1, its most visible instance in each image: 8 training images, 4 test images" "$TMP/err"
check "the pose loss's parts" grep -q "rotation_loss: .* translation_loss: .* val_loss" "$TMP/out"
expect_error "an object the dataset does not have" 1 "--object: .*models_info.json has no obj_id 2" \
    "$FOVEA" train pose.fv --data ds --object 2
sed 's/compile loss=pose/compile loss=mse/' pose.fv >mse.fv
expect_error "a pose head compiled with another loss" 2 "needs compile loss=pose" \
    "$FOVEA" train mse.fv --data ds
sed 's/extent=85,61,41/extent=70,50,30 symmetry=discrete/' pose.fv >other.fv
run "$FOVEA" train other.fv --data ds --epochs 1
check "a head that does not fit the object trains" test "$status" -eq 0
check "with a note on its extent" grep -q "note: the pose head's extent=70,50,30 is not obj_id 1's size 85 x 61 x 41 mm" "$TMP/err"
check "and on its symmetry" grep -q "note: obj_id 1 is not symmetric in .*, but the pose head has a symmetry=" "$TMP/err"
printf 'input shape=16,16,3\nflatten\ndense units=3 activation=softmax\ncompile loss=categorical_crossentropy\n' >cls.fv
expect_error "a classifier on a BOP folder" 1 "the model's output is not a pose head" \
    "$FOVEA" train cls.fv --data ds

echo "# fovea pose"
expect_ok "a BOP scene's images, K from scene_camera.json" \
    "$FOVEA" pose pose.safetensors --input ds/test/000000/rgb --output est.csv
check "prints R, t and the Euler angles" grep -q "Euler x-y-z (extrinsic, degrees)" "$TMP/out"
check "the image's scene and im_id" grep -q "000002.png (scene 0, image 2, obj_id 1)" "$TMP/out"
check "BOP's CSV header" test "$(head -1 est.csv)" = "scene_id,im_id,obj_id,score,R,t,time"
check "one line an image" test "$(wc -l <est.csv)" -eq 5
cut -d, -f1-6 est.csv >"$TMP/est_default"
expect_ok "fovea pose --threads 1" \
    "$FOVEA" pose pose.safetensors --input ds/test/000000/rgb --output est1.csv --threads 1
cut -d, -f1-6 est1.csv >"$TMP/est_one"
same_file "--threads 1 estimates what the default threads do (the time column aside)" \
    "$TMP/est_one" "$TMP/est_default"
# --K with the focal length doubled: the depth is z/f times f, so t doubles; R is the same.
expect_ok "--K" "$FOVEA" pose pose.safetensors --input ds/test/000000/rgb/000001.png \
    --K 80,80,15.5,15.5 --output k2.csv
check "t doubles with f, R stays" /usr/bin/python3 -c "
import sys
a = open('est.csv').read().split('\n')[2].split(','); b = open('k2.csv').read().split('\n')[1].split(',')
ta = [float(v) for v in a[5].split()]; tb = [float(v) for v in b[5].split()]
ok = a[:5] == b[:5] and all(abs(y - 2 * x) <= 1e-4 * abs(y) + 1e-6 for x, y in zip(ta, tb))
sys.exit(0 if ok else 1)"
mkdir plain && cp ds/test/000000/rgb/000000.png plain/a.png
expect_error "no K for an image outside a BOP scene" 1 "plain/a.png: no --K given" \
    "$FOVEA" pose pose.safetensors --input plain/a.png
expect_error "a bad --K" 2 "--K: expected fx,fy,cx,cy" \
    "$FOVEA" pose pose.safetensors --input plain/a.png --K 1,2,3

echo "# evaluate"
expect_ok "evaluate MODEL --data, as JSON" "$FOVEA" evaluate pose.safetensors --data ds --json
cp "$TMP/out" model.json
expect_ok "evaluate --poses on fovea pose's CSV" "$FOVEA" evaluate --poses est.csv --data ds --json
check "the same figures" /usr/bin/python3 -c "
import json, sys
a = json.load(open('model.json')); b = json.load(open('$TMP/out'))
sys.exit(0 if a == b and a['targets'] == 4 and a['estimated'] == 4 else 1)"
expect_ok "evaluate --plot" "$FOVEA" evaluate pose.safetensors --data ds --plot add.png
check "the curve is a PNG" grep -q PNG <(head -c 8 add.png)
check "prints ADD(-S)" grep -q "^ADD(-S) accuracy" "$TMP/out"
expect_ok "evaluate --object 1" "$FOVEA" evaluate pose.safetensors --data ds --object 1 --json
check "the same figures with the object named" cmp -s "$TMP/out" model.json
expect_error "evaluate --object 3" 1 "--object: .*has no obj_id 3" \
    "$FOVEA" evaluate pose.safetensors --data ds --object 3

echo "# viz pose"
expect_ok "viz pose over a BOP scene's images" \
    "$FOVEA" viz pose pose.safetensors --input ds/test/000000/rgb --max 3 -o pose.png
check "wrote three images" grep -q "^Wrote pose.png (3 images)" "$TMP/out"
check "a PNG" grep -q PNG <(head -c 8 pose.png)
expect_ok "an SVG, with --K, no true pose" \
    "$FOVEA" viz pose pose.safetensors --input plain --K 40,40,15.5,15.5 -o pose.svg
check "an SVG file" grep -q "<svg" pose.svg
expect_error "no -o" 2 "-o OUT.png|OUT.svg is required" \
    "$FOVEA" viz pose pose.safetensors --input plain

echo "# a network on crops around the object (crop=box)"
sed 's/^pose extent=85,61,41$/pose extent=85,61,41 crop=box crop_pad=1.4/' pose.fv >crop.fv
run "$FOVEA" train crop.fv --data ds --save crop.safetensors --seed 1
check "train on crops succeeds" test "$status" -eq 0
check "says what the crops are" grep -q "crops of 1.40 times each object's 2-D box" "$TMP/err"
expect_ok "fovea pose: the box from scene_gt_info.json" \
    "$FOVEA" pose crop.safetensors --input ds/test/000000/rgb --output crop.csv
expect_ok "evaluate MODEL --data" "$FOVEA" evaluate crop.safetensors --data ds --json
cp "$TMP/out" crop.json
expect_ok "evaluate --poses on its CSV" "$FOVEA" evaluate --poses crop.csv --data ds --json
check "the same figures" cmp -s "$TMP/out" crop.json
box=$(/usr/bin/python3 -c "
import json; print(','.join(str(v) for v in json.load(open('ds/test/000000/scene_gt_info.json'))['1'][0]['bbox_visib']))")
expect_ok "--box: the same box given" "$FOVEA" pose crop.safetensors \
    --input ds/test/000000/rgb/000001.png --box "$box" --output box.csv
check "the same estimate" test "$(sed -n 2p box.csv | cut -d, -f1-6)" = "$(sed -n 3p crop.csv | cut -d, -f1-6)"
expect_ok "--box: another box, another estimate" "$FOVEA" pose crop.safetensors \
    --input ds/test/000000/rgb/000001.png --box 0,0,10,10 --output box2.csv
check "a different estimate" test "$(sed -n 2p box2.csv | cut -d, -f5-6)" != "$(sed -n 3p crop.csv | cut -d, -f5-6)"
expect_error "no box for an image outside a BOP scene" 1 "plain/a.png: no --box given" \
    "$FOVEA" pose crop.safetensors --input plain/a.png --K 40,40,15.5,15.5
expect_error "a --box wholly outside the image" 1 "000001.png: the object.s 2-D box 40,40,10,10 .* lies wholly outside the 32 x 32 image" \
    "$FOVEA" pose crop.safetensors --input ds/test/000000/rgb/000001.png --box 40,40,10,10
expect_error "a bad --box" 2 "--box: expected x,y,width,height" \
    "$FOVEA" pose crop.safetensors --input plain/a.png --K 40,40,15.5,15.5 --box 1,2,0,4
expect_ok "viz pose with --box and --K" "$FOVEA" viz pose crop.safetensors --input plain \
    --K 40,40,15.5,15.5 --box 8,8,16,16 -o crop.png
expect_error "--box for a model that reads whole images" 2 "--box: the model does not crop around the object" \
    "$FOVEA" pose pose.safetensors --input plain/a.png --K 40,40,15.5,15.5 --box 8,8,16,16

echo "# another dataset's only object is the default --object"
run "$FOVEA" data make pose boxds --object box --train 2 --test 2 --size 32 --seed 2 --backgrounds none
check "data make pose --object box" test "$status" -eq 0
expect_ok "fovea pose on the box's images, no --object" \
    "$FOVEA" pose crop.safetensors --input boxds/test/000000/rgb --output boxest.csv
check "obj_id 2, the box's" test "$(sed -n 2p boxest.csv | cut -d, -f3)" = 2
expect_ok "data make pose makes the folders above DIR" \
    "$FOVEA" data make pose new/sub/ds --train 2 --test 1 --size 32 --backgrounds none
check "the dataset is there" test -f new/sub/ds/models/models_info.json

echo "# test-time augmentation (--tta): several crops, one estimate"
expect_ok "--tta 1" "$FOVEA" pose crop.safetensors --input ds/test/000000/rgb --tta 1 --output t1.csv
check "--tta 1 is the model's own crop" test "$(cut -d, -f1-6 t1.csv)" = "$(cut -d, -f1-6 crop.csv)"
expect_ok "--tta 4" "$FOVEA" pose crop.safetensors --input ds/test/000000/rgb --tta 4 --output t4.csv
check "the combination differs from one crop" test "$(cut -d, -f5-6 t4.csv)" != "$(cut -d, -f5-6 crop.csv)"
check "R is a rotation" /usr/bin/python3 -c "
import csv, sys, numpy as np
for r in csv.DictReader(open('t4.csv')):
    R = np.array([float(v) for v in r['R'].split()]).reshape(3, 3)
    if not (np.allclose(R @ R.T, np.eye(3), atol=1e-6) and abs(np.linalg.det(R) - 1) < 1e-6): sys.exit(1)"
expect_ok "--tta 4 --threads 1" "$FOVEA" pose crop.safetensors --input ds/test/000000/rgb --tta 4 \
    --threads 1 --output t4b.csv
check "the same estimates for any thread count" test "$(cut -d, -f1-6 t4b.csv)" = "$(cut -d, -f1-6 t4.csv)"
expect_ok "evaluate --tta 4" "$FOVEA" evaluate crop.safetensors --data ds --tta 4 --json
cp "$TMP/out" t4.json
expect_ok "evaluate --poses on pose --tta 4's CSV" "$FOVEA" evaluate --poses t4.csv --data ds --json
check "the same figures" cmp -s "$TMP/out" t4.json
expect_ok "viz pose --tta 2" "$FOVEA" viz pose crop.safetensors --input ds/test/000000/rgb --max 2 \
    --tta 2 -o tta.png
expect_error "--tta 0" 2 "--tta: expected 1 to 1024" \
    "$FOVEA" pose crop.safetensors --input ds/test/000000/rgb --tta 0
expect_error "--tta for a model that reads whole images" 2 "--tta needs a network on crops" \
    "$FOVEA" pose pose.safetensors --input ds/test/000000/rgb --tta 2
expect_error "evaluate --tta for a model that reads whole images" 2 "--tta needs a network on crops" \
    "$FOVEA" evaluate pose.safetensors --data ds --tta 2
sed 's/crop=box crop_pad=1.4$/crop=box crop_pad=1.4 symmetry=discrete/' crop.fv >sym.fv
run "$FOVEA" train sym.fv --data ds --save sym.safetensors --seed 1
check "train a head for a symmetric object" test "$status" -eq 0
expect_ok "a symmetric object's head, one crop" \
    "$FOVEA" pose sym.safetensors --input ds/test/000000/rgb --output s1.csv
expect_ok "--tta 2, a symmetric object's head" \
    "$FOVEA" pose sym.safetensors --input ds/test/000000/rgb --tta 2 --output s2.csv
# The medoid of two is a tie, won by the first: the model's own crop's R, with the mean t.
check "R the medoid's (the first crop's), not the mean" \
    test "$(cut -d, -f1-5 s2.csv)" = "$(cut -d, -f1-5 s1.csv)"
check "t the mean of the two" test "$(cut -d, -f6 s2.csv)" != "$(cut -d, -f6 s1.csv)"
finish
