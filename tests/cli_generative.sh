#!/usr/bin/env bash
# cli_generative.sh — generative models end to end on the small quad data: a tiny VAE trained on
# its own input (fit target=input) with the kl_loss and reconstruction_loss columns; `evaluate`'s
# negative ELBO (equal to the loss, whose reconstruction is summed over the pixels) and its
# FID-style distance in a classifier's features; `generate` and `viz reconstructions|latent|
# interpolate` writing PNGs (the same bytes for the same seed); bad input refused with one message.
set -u
source "$(dirname "$0")/data/cli_lib.bash"
D=$DATA/quad
V=$TMP/vae.safetensors
C=$TMP/cls.safetensors

absent() { [ ! -e "$1" ]; }

echo "# train a tiny VAE on its own input"
expect_ok "train quad_vae.fv --save --history" "$FOVEA" train "$DATA/quad_vae.fv" --data "$D" \
    --save "$V" --history "$TMP/h.csv"
cp "$TMP/out" "$TMP/train.out"
check "history columns: kl_loss, loss, reconstruction_loss and their val_ twins" \
    test "$(head -1 "$TMP/h.csv")" = "epoch,kl_loss,loss,reconstruction_loss,val_kl_loss,val_loss,val_reconstruction_loss"
check "no accuracy in a reconstruction's progress lines" bash -c "! grep -q accuracy '$TMP/out'"

echo "# a checkpoint resumes bit for bit (the sampling layer's and gaussian_noise's streams follow the step)"
sed 's/^conv2d filters=4/gaussian_noise stddev=0.1\nconv2d filters=4/' "$DATA/quad_vae.fv" >"$TMP/dvae.fv"
expect_ok "2 epochs straight" "$FOVEA" train "$TMP/dvae.fv" --data "$D" --epochs 2 \
    --save "$TMP/straight.safetensors" --verbose 0
expect_ok "1 epoch with a checkpoint" "$FOVEA" train "$TMP/dvae.fv" --data "$D" --epochs 1 \
    --checkpoint "$TMP/ck" --verbose 0
expect_ok "resumed to 2 epochs" "$FOVEA" train "$TMP/dvae.fv" --data "$D" --epochs 2 \
    --checkpoint "$TMP/ck" --resume --save "$TMP/resumed.safetensors" --verbose 0
same_file "the resumed VAE has the straight run's weights, byte for byte" \
    "$TMP/straight.safetensors" "$TMP/resumed.safetensors"

echo "# evaluate"
train_loss=$(sed -n 's/^Test loss: //p' "$TMP/train.out")
expect_ok "evaluate a VAE" "$FOVEA" evaluate "$V" --data "$D"
cp "$TMP/out" "$TMP/eval.out"
check "evaluate's test loss (z sampled) is the one printed after training ($train_loss)" \
    grep -qx "Test loss: $train_loss" "$TMP/eval.out"
expect_ok "a VAE trains from a .npy array without labels (its target is its input)" \
    "$FOVEA" train "$DATA/quad_vae.fv" --data "$DATA/quad_x.npy" --epochs 1 --verbose 0
expect_error "a classifier from a .npy array still needs --labels" 1 "no labels to train on" \
    "$FOVEA" train "$DATA/quad.fv" --data "$DATA/quad_x.npy" --epochs 1
expect_error "predict on a VAE without --output P.npy is refused (no class table of pixels)" 2 \
    "^fovea predict: '.*' is a VAE: its outputs are reconstructions, not class scores" \
    "$FOVEA" predict "$V" --input "$DATA/quad_x.npy"
expect_ok "predict on a VAE writes its reconstructions to .npy" \
    "$FOVEA" predict "$V" --input "$DATA/quad_x.npy" --output "$TMP/recon.npy"
check "one line says what was written" grep -q "^10 reconstructions, 64 values each, written to" "$TMP/out"
check "the .npy holds (10, 8, 8, 1)" grep -q "'shape': (10, 8, 8, 1), }" "$TMP/recon.npy"
sed 's/^fit target=input /fit /' "$DATA/quad_vae.fv" >"$TMP/no_target.fv"
expect_error "a VAE whose fit line forgot target=input is refused against class labels" 1 \
    "output 'reconstruction' has shape \(None, 8, 8, 1\), an image, but the data's targets are class labels.*add .fit target=input." \
    "$FOVEA" train "$TMP/no_target.fv" --data "$D" --epochs 1
expect_ok "train with --seed 7 (the fit line says 42)" "$FOVEA" train "$DATA/quad_vae.fv" --data "$D" \
    --seed 7 --save "$TMP/v7.safetensors"
seed7_loss=$(sed -n 's/^Test loss: //p' "$TMP/out")
expect_ok "evaluate the --seed 7 model" "$FOVEA" evaluate "$TMP/v7.safetensors" --data "$D"
check "its test loss after saving and loading is the one printed after training ($seed7_loss)" \
    grep -qx "Test loss: $seed7_loss" "$TMP/out"
expect_ok "evaluate a VAE in batches of 7" "$FOVEA" evaluate "$V" --data "$D" --batch-size 7
loss7=$(sed -n 's/^Test loss: //p' "$TMP/out")
check "the same test loss in batches of 7 ($loss7; the sum's order moves the last digits): each image's z by its index, whatever the batch" \
    awk -v a="$loss7" -v b="$train_loss" 'BEGIN { d = a - b; exit !(a != "" && d < 1e-9 * b && d > -1e-9 * b) }'
expect_ok "evaluate a VAE in one batch of 80" "$FOVEA" evaluate "$V" --data "$D" --batch-size 80
loss80=$(sed -n 's/^Test loss: //p' "$TMP/out")
check "the same test loss in one batch ($loss80)" \
    awk -v a="$loss80" -v b="$train_loss" 'BEGIN { d = a - b; exit !(a != "" && d < 1e-9 * b && d > -1e-9 * b) }'
loss=$(sed -n 's/^Test loss: //p' "$TMP/eval.out")
elbo=$(sed -n 's/^Negative ELBO per image: \([0-9.]*\) .*/\1/p' "$TMP/eval.out")
if [ -n "$loss" ] && [ -n "$elbo" ] &&
    awk -v a="$loss" -v b="$elbo" 'BEGIN { d = a - b; exit !(d < 1e-3 && d > -1e-3) }'; then
    ok "the negative ELBO per image ($elbo) is the loss ($loss): BCE summed over 64 pixels + KL"
else
    fail "negative ELBO equals the loss" "loss '$loss', ELBO '$elbo'" "$(cat "$TMP/eval.out")"
fi
check "grey pixels: not a log-likelihood, said so" grep -q "not a log-likelihood in nats" "$TMP/eval.out"
check "Test kl_loss line" grep -Eq '^Test kl_loss: [0-9.e+-]+$' "$TMP/eval.out"
expect_ok "evaluate --binarize" "$FOVEA" evaluate "$V" --data "$D" --binarize
check "--binarize: a bound in nats" grep -q "a bound on the negative log-likelihood, in nats" "$TMP/out"
expect_ok "train a classifier for the features" "$FOVEA" train "$DATA/quad.fv" --data "$D" \
    --save "$C" --verbose 0
expect_ok "evaluate --features --layer" "$FOVEA" evaluate "$V" --data "$D" --features "$C" \
    --layer flatten --samples 60
check "the FID-style distance, named as what it is" \
    grep -Eq "^FID-style distance: [0-9.e+-]+  \(the Fréchet distance between 60 samples .* 36 features of layer 'flatten'" "$TMP/out"
check "the samples' predicted classes" grep -Eq '^Samples by predicted class: 0: [0-9.]+%, 1:' "$TMP/out"
check "60 samples for 36 features: no rank warning" bash -c "! grep -q 'rank-deficient' '$TMP/out'"
expect_ok "evaluate --features with fewer samples than features" "$FOVEA" evaluate "$V" --data "$D" \
    --features "$C" --layer flatten --samples 20
check "says the covariances are rank-deficient" \
    grep -q "with 20 samples for 36 features the covariances are rank-deficient" "$TMP/out"
expect_error "--features without --layer" 2 "--features CLASSIFIER and --layer NAME go together" \
    "$FOVEA" evaluate "$V" --data "$D" --features "$C"
expect_error "--layer the classifier lacks: its layers listed" 1 "no layer 'nope' \(its layers: conv2d, .*flatten" \
    "$FOVEA" evaluate "$V" --data "$D" --features "$C" --layer nope
expect_error "--features naming no file" 1 "^fovea evaluate: --features: 'nope.safetensors': no such file" \
    "$FOVEA" evaluate "$V" --data "$D" --features nope.safetensors --layer flatten
expect_error "--features given a VAE, not a classifier" 1 "--features: '.*vae.safetensors' is a VAE, not a classifier" \
    "$FOVEA" evaluate "$V" --data "$D" --features "$V" --layer h
expect_error "--samples without --features" 2 "--samples sets the FID-style distance's samples: give --features" \
    "$FOVEA" evaluate "$V" --data "$D" --samples 10
expect_error "--samples beyond the test set" 2 "--samples 81: the test set has 80 images" \
    "$FOVEA" evaluate "$V" --data "$D" --features "$C" --layer flatten --samples 81
expect_ok "--binarize with --features" "$FOVEA" evaluate "$V" --data "$D" --binarize --features "$C" \
    --layer flatten --samples 60
check "--binarize: the FID-style distance against the test images as they are" \
    grep -q "test images (as they are, not binarised)" "$TMP/out"
expect_error "--plot of a VAE" 2 "--plot applies to classifiers, detectors and pose networks; '.*' is a VAE" \
    "$FOVEA" evaluate "$V" --data "$D" --plot "$TMP/bad.png"
expect_error "--metrics of a VAE" 2 "--metrics applies to classifiers; '.*' is a VAE" \
    "$FOVEA" evaluate "$V" --data "$D" --metrics accuracy
expect_error "--binarize of a classifier" 2 "--binarize applies to autoencoders, VAEs and GANs; '.*' is a classifier" \
    "$FOVEA" evaluate "$C" --data "$D" --binarize
expect_error "--features of a classifier" 2 "--features applies to autoencoders, VAEs and GANs" \
    "$FOVEA" evaluate "$C" --data "$D" --features "$C" --layer flatten

echo "# a plain autoencoder: no prior to sample from"
A=$TMP/ae.safetensors
printf '%s\n' "input shape=8,8,1" \
    "conv2d filters=4 kernel_size=3 strides=2 padding=same activation=relu name=code" \
    "conv2d_transpose filters=1 kernel_size=3 strides=2 padding=same activation=sigmoid" \
    "compile loss=binary_crossentropy optimizer=adam" "fit target=input batch_size=16 epochs=1" \
    >"$TMP/ae.fv"
expect_ok "train an autoencoder" "$FOVEA" train "$TMP/ae.fv" --data "$D" --save "$A" --verbose 0
expect_error "generate from an autoencoder" 2 "is an autoencoder: it has no prior to draw codes from" \
    "$FOVEA" generate "$A" -o "$TMP/bad.png"
expect_ok "generate from an autoencoder's named bottleneck" "$FOVEA" generate "$A" --latent code \
    --n 4 -o "$TMP/ae_code.png"
expect_error "viz latent of an autoencoder without --latent: its layers listed" 2 \
    "an autoencoder without a sampling layer: name its latent layer .* with --latent NAME \(its layers: code," \
    "$FOVEA" viz latent "$A" --data "$D" -o "$TMP/bad.png"
expect_error "viz latent --grid for a code of more than 2 dimensions: said, not ignored" 2 \
    "--grid shapes the decoded manifold, which a 2-D latent space has; 'code' has 64 dimensions" \
    "$FOVEA" viz latent "$A" --data "$D" --latent code --grid 5 -o "$TMP/bad.png"
expect_error "an autoencoder's FID-style distance" 2 "--features: an autoencoder has no prior" \
    "$FOVEA" evaluate "$A" --data "$D" --features "$C" --layer flatten
expect_ok "evaluate --binarize of an autoencoder" "$FOVEA" evaluate "$A" --data "$D" --binarize
check "an autoencoder's binarised cross-entropy is no likelihood bound, said so" \
    grep -q "an autoencoder has no prior: not a likelihood bound" "$TMP/out"

echo "# generate"
echo "# the pictures and the report read an image folder as evaluate does"
SCRIPTS=$DATA/../../scripts
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
expect_ok "the quad images as PNG folders" "$PY" "$SCRIPTS/datasets.py" idx-to-png "$D" "$TMP/quadpng" --names q0,q1,q2,q3
expect_ok "viz reconstructions from an image folder" \
    "$FOVEA" viz reconstructions "$V" --data "$TMP/quadpng" --n 4 -o "$TMP/r_png.png"
check "its picture was written" test -s "$TMP/r_png.png"
expect_ok "report from an image folder" "$FOVEA" report "$V" --data "$TMP/quadpng" -o "$TMP/r_png.html"
check "its page was written" test -s "$TMP/r_png.html"
expect_ok "generate --threads 1" "$FOVEA" generate "$V" --n 16 --seed 3 --threads 1 -o "$TMP/s1t.png"
expect_ok "generate 16 samples" "$FOVEA" generate "$V" --n 16 --seed 3 -o "$TMP/s1.png"
same_file "--threads 1 draws the same picture" "$TMP/s1.png" "$TMP/s1t.png"
check "generate: a PNG" is_png "$TMP/s1.png"
expect_ok "generate again with the same seed" "$FOVEA" generate "$V" --n 16 --seed 3 -o "$TMP/s2.png"
same_file "the same seed draws the same samples" "$TMP/s1.png" "$TMP/s2.png"
expect_ok "generate with another seed" "$FOVEA" generate "$V" --n 16 --seed 4 -o "$TMP/s3.png"
check "another seed, other samples" bash -c "! cmp -s '$TMP/s1.png' '$TMP/s3.png'"
expect_error "generate from a classifier: said what it is" 2 "cls.safetensors' is a classifier, not an autoencoder, a VAE or a GAN" \
    "$FOVEA" generate "$C" -o "$TMP/bad.png"
expect_error "generate --latent that the model lacks: its layers listed" 2 "--latent: '.*vae.safetensors' has no layer 'w' \(its layers: conv2d, flatten, h, z_mean, z_log_var, z, dense" \
    "$FOVEA" generate "$V" --latent w -o "$TMP/bad.png"
expect_error "generate from a classifier's hidden layer: its output is no image" 1 "is a classifier: its output is not an image" \
    "$FOVEA" generate "$C" --latent flatten -o "$TMP/bad.png"
expect_error "generate without -o" 2 "-o OUT.png is required" "$FOVEA" generate "$V"
check "nothing written by the refused commands" absent "$TMP/bad.png"

echo "# viz reconstructions, latent, interpolate"
expect_ok "viz reconstructions" "$FOVEA" viz reconstructions "$V" --data "$D" --n 6 -o "$TMP/r.png"
check "reconstructions: a PNG" is_png "$TMP/r.png"
expect_ok "viz reconstructions --z-mean" "$FOVEA" viz reconstructions "$V" --data "$D" --n 6 \
    --z-mean -o "$TMP/rm.png"
check "z = z_mean decodes other images than sampled z" bash -c "! cmp -s '$TMP/r.png' '$TMP/rm.png'"
expect_ok "viz latent (2-D: scatter and manifold)" "$FOVEA" viz latent "$V" --data "$D" \
    --grid 8 --class-names a,b,c,d -o "$TMP/l.png"
check "latent: a PNG" is_png "$TMP/l.png"
expect_ok "viz interpolate" "$FOVEA" viz interpolate "$V" --data "$D" --from 0 --to 5 \
    --steps 6 -o "$TMP/i.png"
check "interpolate: a PNG" is_png "$TMP/i.png"
expect_error "interpolate past the test set" 1 "has 80 test images \(0 to 79\)" \
    "$FOVEA" viz interpolate "$V" --data "$D" --from 0 --to 99999 -o "$TMP/bad.png"
expect_error "latent of a classifier: said what it is" 2 "is a classifier, not an autoencoder, a VAE or a GAN" \
    "$FOVEA" viz latent "$C" --data "$D" -o "$TMP/bad.png"
check "nothing written by the refused pictures" absent "$TMP/bad.png"
# (`fovea report` of a VAE and a GAN: tests/cli_report_kinds.sh)

echo "# a GAN: the generator and the discriminator trained alternately (fit gan=generated)"
G=$TMP/gan.safetensors
expect_ok "train quad_gan.fv --plot" "$FOVEA" train "$DATA/quad_gan.fv" --data "$D" --save "$G" \
    --history "$TMP/gh.csv" --plot "$TMP/gc.png"
check "history columns: d_loss, g_loss" test "$(head -1 "$TMP/gh.csv")" = "epoch,d_loss,g_loss"
check "--plot: the d_loss and g_loss curves, two panels of 600x450" \
    test "$(png_size "$TMP/gc.png")" = "1200x450"
expect_ok "fovea plot of the GAN's history" "$FOVEA" plot "$TMP/gh.csv" -o "$TMP/gc2.png"
same_file "  ... the picture train --plot drew" "$TMP/gc.png" "$TMP/gc2.png"
expect_error "--plot to a missing folder: refused before training" 1 \
    "--plot: cannot write .*: folder .* does not exist" \
    "$FOVEA" train "$DATA/quad_gan.fv" --data "$D" --plot "$TMP/nodir/c.png"
check "  ... no epoch was trained" bash -c "! grep -q 'Epoch 1/' '$TMP/out'"
check "no test loss of a GAN after training" bash -c "! grep -q 'Test loss' '$TMP/out'"
expect_ok "generate from the GAN's generator" "$FOVEA" generate "$G" --n 9 -o "$TMP/g.png"
check "generate (GAN): a PNG" is_png "$TMP/g.png"
expect_ok "evaluate a GAN with --features" "$FOVEA" evaluate "$G" --data "$D" --features "$C" \
    --layer flatten --samples 40
check "the GAN's FID-style distance" grep -Eq "^FID-style distance: [0-9.e+-]+  \(the Fréchet distance between 40 samples" "$TMP/out"
expect_error "evaluate a GAN without --features" 2 "a GAN has no reconstruction" \
    "$FOVEA" evaluate "$G" --data "$D"
expect_error "viz latent of a GAN" 1 "gan.safetensors' is a GAN: it has no encoder" \
    "$FOVEA" viz latent "$G" --data "$D" -o "$TMP/bad.png"
expect_error "viz reconstructions of a GAN" 1 "gan.safetensors' is a GAN: it has no encoder" \
    "$FOVEA" viz reconstructions "$G" --data "$D" -o "$TMP/bad.png"
expect_error "viz interpolate of a GAN" 1 "gan.safetensors' is a GAN: it has no encoder" \
    "$FOVEA" viz interpolate "$G" --data "$D" --from 0 --to 1 -o "$TMP/bad.png"
expect_error "a GAN with --validation-split" 2 "--validation-split: .* is a GAN, and validation is not done for GANs" \
    "$FOVEA" train "$DATA/quad_gan.fv" --data "$D" --validation-split 0.5 --verbose 0
sed 's/^fit gan=generated/fit validation_split=0.25 gan=generated/' "$DATA/quad_gan.fv" >"$TMP/gan_vs.fv"
expect_error "a GAN whose fit line asks for validation: said so" 2 "validation_split: .* its fit line asks for it; --no-validation overrides it" \
    "$FOVEA" train "$TMP/gan_vs.fv" --data "$D" --epochs 1 --verbose 0
expect_ok "... and --no-validation overrides it" "$FOVEA" train "$TMP/gan_vs.fv" --data "$D" \
    --epochs 1 --verbose 0 --no-validation
expect_error "--binarize of a GAN" 2 "--binarize applies to the reconstruction of an autoencoder or a VAE" \
    "$FOVEA" evaluate "$G" --data "$D" --binarize --features "$C" --layer flatten
check "nothing written by the refused GAN pictures" absent "$TMP/bad.png"
expect_error "a GAN with early stopping: not yet, said so, naming --save-best" 2 \
    "^fovea train: --save-best: .* is a GAN: no validation figure to watch .*not done for GANs yet" \
    "$FOVEA" train "$DATA/quad_gan.fv" --data "$D" --save-best "$TMP/gbest.safetensors" --verbose 0
sed 's/units=1 activation=sigmoid/units=1/' "$DATA/quad_gan.fv" >"$TMP/logits.fv"
expect_error "a discriminator without its sigmoid" 1 "ends in one sigmoid unit" \
    "$FOVEA" train "$TMP/logits.fv" --data "$D" --verbose 0
sed 's/gan=generated/gan=nope/' "$DATA/quad_gan.fv" >"$TMP/badgan.fv"
expect_error "gan= naming no layer" 1 "gan=nope: the model has no layer of that name" \
    "$FOVEA" train "$TMP/badgan.fv" --data "$D" --verbose 0

echo "# a latent of 3: the first two principal components"
sed 's/units=2 name=z_mean/units=3 name=z_mean/; s/units=2 name=z_log_var/units=3 name=z_log_var/' \
    "$DATA/quad_vae.fv" >"$TMP/vae3.fv"
expect_ok "train a VAE with a latent of 3" "$FOVEA" train "$TMP/vae3.fv" --data "$D" \
    --save "$TMP/vae3.safetensors" --epochs 1 --verbose 0
expect_ok "viz latent by principal components" "$FOVEA" viz latent "$TMP/vae3.safetensors" \
    --data "$D" -o "$TMP/l3.png"
check "latent (PCA): a PNG" is_png "$TMP/l3.png"

finish
